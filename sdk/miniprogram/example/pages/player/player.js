// A live-player that survives interruptions: VhallPlayer restarts it after live-player gives up or the stream
// ends, and reports connected / reconnecting / reconnected.
import { VhallPlayer } from '../../minisdk/index.js'

const app = getApp()

Page({
  data: { src: '', state: '', net: '' },
  onLoad (query) {
    this.player = new VhallPlayer()
    this.player.on('connected', () => wx.showToast({ title: '开始播放', icon: 'none' }))
    this.player.on('reconnecting', () => wx.showToast({ title: '重连中～', icon: 'none' }))
    this.player.on('reconnected', () => wx.showToast({ title: '重连成功', icon: 'none' }))
    this.player.createInstance({
      server: app.globalData.server,
      appId: app.globalData.appId,
      channelId: query.channelId,
      playerId: 'player'
    }, ({ url }) => {
      this.setData({ src: url }, () => this.player.play())
    }, (e) => wx.showModal({ title: '播放失败', content: e.errMsg, showCancel: false }))
  },
  onUnload () { this.player.destroy() },
  statechange (e) {
    this.setData({ state: `${e.detail.code} ${e.detail.message || ''}` })
    this.player.statechange(e)
  },
  netstatuschange (e) {
    const i = e.detail.info
    this.setData({ net: `${i.videoWidth}x${i.videoHeight} ${i.videoFPS}fps cache ${i.videoCache}ms` })
    this.player.netstatuschange(e)
  },
  playerror (e) { this.player.playerror(e) },
  pause () { this.player.pause() },
  resume () { this.player.resume() },
  fullscreen () { this.player.requestFullScreen({ direction: 90 }) }
})

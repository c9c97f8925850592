// A live-player that survives interruptions: VhallPlayer restarts it after live-player gives up or the stream
// ends, and reports connected / reconnecting / reconnected. With a token (query.token, minted by the app's
// backend: `mplive token --role viewer`) the play URLs come from the server, signed when the app's play auth is
// on, and every restart gets a freshly signed one through reconnectReady({url}).
import { VhallPlayer } from '../../minisdk/index.js'

const app = getApp()

Page({
  data: { src: '', state: '', net: '' },
  onLoad (query) {
    this.player = new VhallPlayer()
    this.player.on('connected', () => wx.showToast({ title: '开始播放', icon: 'none' }))
    this.player.on('reconnecting', () => wx.showToast({ title: '重连中～', icon: 'none' }))
    this.player.on('reconnected', () => wx.showToast({ title: '重连成功', icon: 'none' }))
    // Bind the URL the SDK hands over before it plays again (a fresh signature when it has a token).
    this.player.on('reconnectReady', ({ url }) => this.setData({ src: url }))
    this.player.createInstance({
      server: app.globalData.server,
      appId: app.globalData.appId,
      channelId: query.channelId,
      accountId: query.accountId,
      token: query.token,
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

// The seed's pusher page: the Vhall SDK's usage with the import and the server address changed.
import VhallPublisher from '../../minisdk/index.js'

const app = getApp()

Page({
  data: { url: '', state: '', net: '' },
  onLoad (query) {
    const opt = {
      server: app.globalData.server,
      appId: app.globalData.appId,
      channelId: query.channelId,
      accountId: query.accountId,
      token: query.token,
      pusherId: 'pusher',
      profile: 'RTC'
    }
    this.vhallPublisher = new VhallPublisher()
    this.vhallPublisher.createInstance(opt, res => {
      this.setData({ url: res.url })
    }, e => {
      wx.showModal({ title: '实例化失败', content: e.errMsg, showCancel: false })
    })
    this.vhallPublisher.on('connected', () => wx.showToast({ title: '开始推流', icon: 'none' }))
    this.vhallPublisher.on('reconnecting', () => wx.showToast({ title: '网络异常，重连中～', icon: 'none' }))
    this.vhallPublisher.on('reconnectReady', ({ url }) => {
      this.setData({ url }, () => { this.start() })
    })
    this.vhallPublisher.on('reconnected', () => wx.showToast({ title: '重连成功', icon: 'none' }))
    this.vhallPublisher.on('reconnectFail', err => {
      wx.showToast({ title: '重连失败', icon: 'none' })
      console.log('reconnectFail', err)
    })
  },
  onUnload () {
    this.vhallPublisher.destroy()
  },
  start () { this.vhallPublisher.start() },
  stop () { this.vhallPublisher.stop() },
  switchCamera () { this.vhallPublisher.switchCamera() },
  toggleTorch () { this.vhallPublisher.toggleTorch() },
  statechange (e) {
    this.setData({ state: `${e.detail.code} ${e.detail.message || ''}` })
    this.vhallPublisher.statechange(e)
  },
  netstatuschange (e) {
    const i = e.detail.info
    this.setData({ net: `${i.videoWidth}x${i.videoHeight} ${i.videoFPS}fps ${i.videoBitrate}+${i.audioBitrate} kbps` })
    this.vhallPublisher.netstatuschange(e)
  },
  pusherror (e) { this.vhallPublisher.pusherror(e) },
  bgmstart (e) { this.vhallPublisher.bgmstart(e) },
  bgmprogress (e) { this.vhallPublisher.bgmprogress(e) },
  bgmcomplete (e) { this.vhallPublisher.bgmcomplete(e) }
})

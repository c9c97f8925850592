// A video room over mplive's /rooms/v1/ws, shaped like wx.joinVoIPChat: this member pushes with <live-pusher>
// to the pushUrl join returns, and plays each other member with a <live-player> on its play URL.
// The signature comes from the app's backend, which holds the session key:
//   hex(hmac_sha256(sessionKey, sorted([appId, groupId, nonceStr, timeStamp]).join('')))
// Here it is fetched from {backend}/room-signature, a route of YOUR backend (not of mplive).
import { VoipRoom } from '../../minisdk/index.js'

const app = getApp()

Page({
  data: { pushUrl: '', players: [], speakers: [], muted: false, log: '' },
  onLoad (query) {
    this.room = new VoipRoom({ server: app.globalData.server, appId: app.globalData.appId, openId: query.openId })
    this.room.onMembersChanged(({ openIdList, playUrls }) => this.showMembers(openIdList, playUrls))
    this.room.onSpeakersChanged(({ openIdList }) => this.setData({ speakers: openIdList }))
    this.room.onInterrupted(({ errCode, errMsg }) => this.setData({ log: `interrupted ${errCode}: ${errMsg}` }))
    this.room.onStateChanged(({ state }) => this.setData({ log: state }))
    wx.request({
      url: `${app.globalData.backend || app.globalData.server}/room-signature`,
      data: { groupId: query.groupId, openId: query.openId },
      success: ({ data }) => this.join(query.groupId, data),
      fail: (e) => this.setData({ log: `no signature: ${e.errMsg}` })
    })
  },
  join (groupId, { signature, nonceStr, timeStamp }) {
    this.room.join({
      groupId, signature, nonceStr, timeStamp, roomType: 'video',
      muteConfig: { muteMicrophone: false, muteEarphone: false },
      success: ({ pushUrl, openIdList, playUrls }) => {
        this.setData({ pushUrl })
        this.showMembers(openIdList, playUrls)
      },
      fail: ({ errCode, errMsg }) => this.setData({ log: `join failed ${errCode}: ${errMsg}` })
    })
  },
  showMembers (openIdList, playUrls) {
    const players = openIdList.filter((id) => playUrls[id]).map((id) => ({ openId: id, src: playUrls[id].flv }))
    this.setData({ players })
  },
  toggleMute () {
    const muted = !this.data.muted
    this.room.updateMuteConfig({ muteConfig: { muteMicrophone: muted, muteEarphone: false }, success: () => this.setData({ muted }) })
  },
  volume (e) { this.room.reportVolume(e.detail.volume) },
  onUnload () { this.room.exit() }
})

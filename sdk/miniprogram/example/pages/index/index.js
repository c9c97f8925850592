// Where a page gets its createInstance options. The token is minted by the app's backend (`mplive token`, or
// POST /v1/apps/{app}/tokens): never put the app's secret in the mini-program.
Page({
  data: { channelId: 'demo', accountId: 'anchor', token: '', groupId: 'room1', openId: 'user1' },
  input (e) {
    this.setData({ [e.currentTarget.dataset.key]: e.detail.value })
  },
  toPusher () {
    const { channelId, accountId, token } = this.data
    wx.navigateTo({ url: `/pages/pusher/pusher?channelId=${encodeURIComponent(channelId)}&accountId=${encodeURIComponent(accountId)}&token=${encodeURIComponent(token)}` })
  },
  toPlayer () {
    // The same token plays too (a publisher may watch); a viewer's is minted with `--role viewer`. Without one the
    // player builds unsigned URLs, which play only while the app's play auth is off.
    const { channelId, accountId, token } = this.data
    wx.navigateTo({ url: `/pages/player/player?channelId=${encodeURIComponent(channelId)}&accountId=${encodeURIComponent(accountId)}&token=${encodeURIComponent(token)}` })
  },
  toRoom () {
    const { groupId, openId } = this.data
    wx.navigateTo({ url: `/pages/room/room?groupId=${encodeURIComponent(groupId)}&openId=${encodeURIComponent(openId)}` })
  }
})

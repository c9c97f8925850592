// The one place to configure: the mplive server's address and the app the pages use.
// (Add the address to the mini-program's request and socket domains, or tick "do not verify domains" in DevTools.)
App({
  globalData: {
    server: 'https://live.example.com',
    appId: 'live'
  }
})

// Type declarations of mplive-miniprogram.

/** What wx APIs pass to `fail`: "name:fail why" and a code. */
export interface WxError {
  errMsg: string
  errCode: number
}

export interface Callbacks<R = Record<string, unknown>> {
  success?: (res: R) => void
  fail?: (err: WxError) => void
  complete?: (res: R | WxError) => void
}

export interface PlayUrls {
  rtmp?: string
  flv?: string
  hls?: string
  /** Low-latency HLS (from the server's endpoints). */
  llHls?: string
}

// ---- publisher ----

export interface PublisherOptions {
  /** The mplive server's address, e.g. "https://live.example.com" (the one addition to Vhall's options). */
  server: string
  /** The app's id or name. */
  appId: string
  /** The channel (stream) to publish; `roomId` is an alias. */
  channelId?: string
  roomId?: string
  accountId: string
  /** An HS256 JWT with role publisher, minted by the app's backend (`mplive token`). */
  token: string
  /** The id of the page's <live-pusher>. */
  pusherId: string
  /** 1 (or true): audio-only live. */
  singleAudio?: 0 | 1 | boolean
  /** live-pusher mode: SD, HD, FHD, RTC (default RTC). */
  profile?: string
  /** The component instance when the <live-pusher> is inside a custom component. */
  THIS?: unknown
  /** Time between reconnect attempts in ms (default 5000, the Vhall SDK's). */
  reconnectIntervalMs?: number
}

export interface InstanceResult {
  url: string
  stream: string
  expiresAt: number
  playUrls: PlayUrls
}

export interface PublisherEvents {
  connected: () => void
  reconnecting: () => void
  reconnectReady: (res: { url: string }) => void
  reconnected: () => void
  reconnectFail: (err: WxError) => void
  statechange: (detail: { code: number, message?: string }) => void
  netstatus: (info: Record<string, number>) => void
  error: (detail: { errMsg?: string, errCode?: number }) => void
  bgmstart: (detail: unknown) => void
  bgmprogress: (detail: { progress: number, duration: number }) => void
  bgmcomplete: (detail: unknown) => void
}

export interface ComponentEvent<D = Record<string, any>> {
  detail: D
}

export declare class VhallPublisher {
  createInstance (opt: PublisherOptions, success?: (res: InstanceResult) => void, fail?: (err: WxError) => void): void
  on<K extends keyof PublisherEvents> (event: K, cb: PublisherEvents[K]): void
  off<K extends keyof PublisherEvents> (event: K, cb?: PublisherEvents[K]): void
  destroy (): void
  /** The last net status the component reported. */
  readonly netStatus: Record<string, number> | null
  /** The current push URL. */
  readonly url: string

  start (params?: Callbacks): void
  stop (params?: Callbacks): void
  pause (params?: Callbacks): void
  resume (params?: Callbacks): void
  switchCamera (params?: Callbacks): void
  snapshot (params?: Callbacks<{ tempImagePath: string, width: number, height: number }> & { quality?: string }): void
  toggleTorch (params?: Callbacks): void
  playBGM (params: Callbacks & { url: string }): void
  pauseBGM (params?: Callbacks): void
  resumeBGM (params?: Callbacks): void
  stopBGM (params?: Callbacks): void
  setBGMVolume (params: Callbacks & { volume: number | string }): void
  setMICVolume (params: Callbacks & { volume: number }): void
  startPreview (params?: Callbacks): void
  stopPreview (params?: Callbacks): void
  sendMessage (params: Callbacks & { msg: string }): void

  statechange (e: ComponentEvent<{ code: number, message?: string }>): void
  netstatuschange (e: ComponentEvent<{ info: Record<string, number> }>): void
  pusherror (e: ComponentEvent<{ errMsg: string, errCode: number }>): void
  bgmstart (e: ComponentEvent): void
  bgmprogress (e: ComponentEvent<{ progress: number, duration: number }>): void
  bgmcomplete (e: ComponentEvent): void
}
export default VhallPublisher

// ---- player ----

export interface PlayerOptions {
  /**
   * The mplive server's address. With accountId and token the play URLs come from POST /sdk/v1/player/instance;
   * without, they are built from it with appId and channelId (unsigned: play auth off).
   */
  server?: string
  /** The app's id or name (the name when the URLs are built without a token). */
  appId?: string
  channelId?: string
  roomId?: string
  /** The watching user, as in the token. */
  accountId?: string
  /**
   * An access token with role viewer (or publisher) for this app, channel and account, minted by the app's backend.
   * The URLs are then signed when the app's play auth is on, and refreshed (/sdk/v1/player/refresh) before every
   * restart.
   */
  token?: string
  /** Play URLs from the publisher's createInstance or the app's backend, when no token is given; reused as they are. */
  playUrls?: PlayUrls
  /** 'flv' (default) or 'rtmp'. */
  protocol?: 'flv' | 'rtmp'
  /** The id of the page's <live-player>. */
  playerId: string
  THIS?: unknown
  reconnectIntervalMs?: number
}

export interface PlayerEvents {
  connected: () => void
  reconnecting: () => void
  /** The URL the SDK is about to play again (freshly signed with a token): bind it as the <live-player>'s src. */
  reconnectReady: (res: { url: string }) => void
  reconnected: () => void
  ended: () => void
  statechange: (detail: { code: number, message?: string }) => void
  netstatus: (info: Record<string, number>) => void
  error: (detail: { errMsg?: string, errCode?: number }) => void
}

export declare class VhallPlayer {
  /** success's expiresAt (Unix seconds after which the signed URLs no longer connect) is given with a token. */
  createInstance (opt: PlayerOptions, success?: (res: { url: string, playUrls: PlayUrls, expiresAt?: number }) => void, fail?: (err: WxError) => void): void
  on<K extends keyof PlayerEvents> (event: K, cb: PlayerEvents[K]): void
  off<K extends keyof PlayerEvents> (event: K, cb?: PlayerEvents[K]): void
  destroy (): void
  /** The URL the player plays (or last handed over in reconnectReady) and its play URLs. */
  readonly url: string
  readonly playUrls: PlayUrls | undefined
  /** With a token: when the current signed URLs stop connecting (Unix seconds). */
  readonly expiresAt: number | undefined
  readonly netStatus: Record<string, number> | null
  play (params?: Callbacks): void
  stop (params?: Callbacks): void
  pause (params?: Callbacks): void
  resume (params?: Callbacks): void
  mute (params?: Callbacks): void
  requestFullScreen (params?: Callbacks & { direction?: 0 | 90 | -90 }): void
  exitFullScreen (params?: Callbacks): void
  snapshot (params?: Callbacks<{ tempImagePath: string, width: number, height: number }>): void
  statechange (e: ComponentEvent<{ code: number, message?: string }>): void
  netstatuschange (e: ComponentEvent<{ info: Record<string, number> }>): void
  playerror (e: ComponentEvent<{ errMsg: string, errCode: number }>): void
}

// ---- room ----

export interface MuteConfig {
  muteMicrophone?: boolean
  muteEarphone?: boolean
}

export interface RoomMember {
  openId: string
  playUrls: PlayUrls
}

export interface JoinResult {
  errMsg: string
  errCode: 0
  groupId: string
  roomType: 'voice' | 'video'
  /** Every member, this one included, in join order. */
  openIdList: string[]
  /** Where this member pushes (bind it to a <live-pusher>). */
  pushUrl: string
  /** The other members. */
  members: RoomMember[]
  /** The other members' play URLs by openId. */
  playUrls: Record<string, PlayUrls>
}

export interface MembersChanged {
  openIdList: string[]
  errCode: number
  errMsg: string
  /** Members new to the list, with their play URLs. */
  members: RoomMember[]
  /** Every other member's play URLs by openId. */
  playUrls: Record<string, PlayUrls>
}

export declare class VoipRoom {
  constructor (opt: { server: string, appId: string, openId?: string, config?: Record<string, number> })
  join (params: Callbacks<JoinResult> & {
    groupId: string
    signature: string
    nonceStr: string
    timeStamp: string | number
    roomType?: 'voice' | 'video'
    muteConfig?: MuteConfig
    openId?: string
  }): void
  exit (params?: Callbacks): void
  updateMuteConfig (params: Callbacks & { muteConfig: MuteConfig }): void
  subscribeVideoMembers (params: Callbacks & { openIdList: string[] }): void
  setEnable1v1Chat (params: Callbacks & { enable: boolean, minWindowType?: number }): void
  reportVolume (volume: number): void
  readonly pushUrl: string | undefined
  readonly playUrls: Record<string, PlayUrls>
  onMembersChanged (cb: (res: MembersChanged) => void): void
  offMembersChanged (cb?: (res: MembersChanged) => void): void
  onSpeakersChanged (cb: (res: { openIdList: string[], errCode: number, errMsg: string }) => void): void
  offSpeakersChanged (cb?: (res: { openIdList: string[] }) => void): void
  onInterrupted (cb: (res: { errCode: number, errMsg: string }) => void): void
  offInterrupted (cb?: (res: { errCode: number, errMsg: string }) => void): void
  onVideoMembersChanged (cb: (res: { openIdList: string[], errCode: number, errMsg: string }) => void): void
  offVideoMembersChanged (cb?: (res: { openIdList: string[] }) => void): void
  onStateChanged (cb: (res: { state: 'joined' | 'resumed' | 'exited' | 'interrupted' | 'reconnecting' }) => void): void
  offStateChanged (cb?: (res: { state: string }) => void): void
  /**
   * live-pusher's ROOM codes, as its bindstatechange delivers them ({code, message}, message a JSON string):
   * 1018 joined {roomid, userid}; 1019 left {roomid, userid}; 1021 back after a dropped connection {roomid,
   * userid}; 1022 the join was refused or failed {roomid, userid, errcode, errmsg}; and the server's 1020
   * {userlist}, 1031 / 1032 {userlist}, 1033 {userid, playurl, hasvideo}, 1034 {userid, playurl, hasaudio}.
   */
  onRoomEvent (cb: (res: RoomEvent) => void): void
  offRoomEvent (cb?: (res: RoomEvent) => void): void
}

/** A ROOM code with its message, a JSON object written as a string (see VoipRoom.onRoomEvent). */
export interface RoomEvent {
  code: number
  message: string
}

export declare function roomsSocketUrl (server: string): string

// ---- the pure state machines (time in ms is an argument of every call) ----

export interface MachineOutput<E = { code: number, message: string }> {
  event?: E
  action?: { type: string, [k: string]: unknown }
}

interface Machine<I, E> {
  pollTimeout (): number | undefined
  handleTimeout (nowMs: number): void
  pollOutput (): MachineOutput<E> | undefined
}

export declare class PusherMachine implements Machine<{ type: string }, { code: number, message: string }> {
  constructor (config?: { max_retries?: number, retry_interval_ms?: number, net_busy_repeat_ms?: number })
  handle (input: { type: string, [k: string]: unknown }, nowMs: number): void
  pollTimeout (): number | undefined
  handleTimeout (nowMs: number): void
  pollOutput (): MachineOutput | undefined
}

export declare class PlayerMachine implements Machine<{ type: string }, { code: number, message: string }> {
  constructor (config?: { mode?: 'live' | 'rtc', min_cache_ms?: number, max_cache_ms?: number, retries?: number, retry_interval_ms?: number, max_wait_ms?: number | null })
  handleInput (input: { type: string, [k: string]: unknown }, nowMs: number): void
  pollTimeout (): number | undefined
  handleTimeout (nowMs: number): void
  pollOutput (): MachineOutput | undefined
}

export declare class ManagedMachine implements Machine<{ type: string }, { type: string, url?: string, err?: unknown }> {
  constructor (config?: { interval_ms?: number })
  handle (input: { type: string, [k: string]: unknown }, nowMs: number): void
  pollTimeout (): number | undefined
  handleTimeout (nowMs: number): void
  pollOutput (): MachineOutput<{ type: string, url?: string, err?: unknown }> | undefined
}

export declare class WatchMachine implements Machine<{ type: string }, { type: string, url?: string }> {
  constructor (config?: { interval_ms?: number, url?: string })
  handle (input: { type: string, [k: string]: unknown }, nowMs: number): void
  pollTimeout (): number | undefined
  handleTimeout (nowMs: number): void
  pollOutput (): MachineOutput<{ type: string, url?: string }> | undefined
}

export declare class RoomMachine implements Machine<{ type: string }, { type: string, [k: string]: unknown }> {
  constructor (config?: { heartbeat_ms?: number, answer_timeout_ms?: number, resume_grace_ms?: number, resume_retry_ms?: number, resume_retry_max_ms?: number })
  handle (input: { type: string, [k: string]: unknown }, nowMs: number): void
  pollTimeout (): number | undefined
  handleTimeout (nowMs: number): void
  pollOutput (): MachineOutput<{ type: string, [k: string]: unknown }> | undefined
}

export declare const PUSHER_CODES: Readonly<Record<string, number>>
export declare const PLAYER_CODES: Readonly<Record<string, number>>
export declare const RECONNECT_CODES: readonly number[]
export declare const ROOM_ERRORS: Readonly<Record<string, number>>
/** The ROOM codes the room machine reports itself: JOINED 1018, LEFT 1019, REJOINED 1021, JOIN_FAILED 1022. */
export declare const ROOM_CODES: Readonly<{ JOINED: 1018, LEFT: 1019, REJOINED: 1021, JOIN_FAILED: 1022 }>
export declare const PUSHER_METHODS: readonly string[]
export declare const PUBLISHER_EVENTS: readonly string[]
export declare const PLAYER_METHODS: readonly string[]
export declare const PLAYER_EVENTS: readonly string[]

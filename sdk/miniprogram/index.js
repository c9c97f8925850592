// mplive-miniprogram: the mini-program SDK of mplive. The default export is the publisher, so
// `import VhallPublisher from 'mplive-miniprogram'` replaces the Vhall SDK's import unchanged.

import VhallPublisher from './src/publisher.js'

export default VhallPublisher
export { VhallPublisher, PUSHER_METHODS, PUBLISHER_EVENTS } from './src/publisher.js'
export { VhallPlayer, PLAYER_METHODS, PLAYER_EVENTS } from './src/player.js'
export { VoipRoom, roomsSocketUrl } from './src/room.js'
export { PusherMachine, PUSHER_CODES } from './src/machines/pusher.js'
export { PlayerMachine, PLAYER_CODES } from './src/machines/player.js'
export { ManagedMachine, RECONNECT_CODES } from './src/machines/managed.js'
export { WatchMachine } from './src/machines/watch.js'
export { RoomMachine, ROOM_CODES, ROOM_ERRORS } from './src/machines/room.js'

// Field access for API objects whose names are moving from snake_case to camelCase: every read of such a field
// goes through `pick`, so the console works with either spelling.

/** The first of `names` that `obj` has (not undefined), else undefined. */
export function pick(obj, ...names) {
  if (!obj) return undefined;
  for (const name of names) {
    if (obj[name] !== undefined) return obj[name];
  }
  return undefined;
}

/** The camelCase name and its snake_case twin. */
function both(camel) {
  return [camel, camel.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`)];
}

/** `pick(obj, 'bytesIn', 'bytes_in')` written `field(obj, 'bytesIn')`. */
export function field(obj, camel) {
  return pick(obj, ...both(camel));
}

/** A stream of GET /v1/streams in the console's own names. */
export function streamView(s) {
  const players = s.players || {};
  const publisher = s.publisher || null;
  return {
    app: s.app,
    stream: s.stream,
    state: s.state,
    videoCodec: field(s, 'videoCodec'),
    audioCodec: field(s, 'audioCodec'),
    width: pick(s, 'videoWidth', 'video_width'),
    height: pick(s, 'videoHeight', 'video_height'),
    fps: pick(s, 'videoFPS', 'videoFps', 'video_fps') ?? 0,
    gop: pick(s, 'videoGOP', 'videoGop', 'video_gop') ?? 0,
    videoBitrate: pick(s, 'videoBitrate', 'video_bitrate') ?? 0,
    audioBitrate: pick(s, 'audioBitrate', 'audio_bitrate') ?? 0,
    sampleRate: field(s, 'audioSampleRate'),
    channels: field(s, 'audioChannels'),
    players: {
      total: players.total ?? 0,
      rtmp: players.rtmp ?? 0,
      flv: players.flv ?? 0,
      hls: pick(players, 'hls'),
      llHls: pick(players, 'llHls'),
      webrtc: pick(players, 'webrtc'),
      relays: players.relays ?? 0,
    },
    clusterPlayers: field(s, 'clusterPlayers'),
    origin: s.origin,
    nodes: s.nodes || [],
    bytesIn: field(s, 'bytesIn') ?? 0,
    bytesOut: field(s, 'bytesOut') ?? 0,
    framesIn: field(s, 'framesIn') ?? 0,
    droppedFrames: field(s, 'droppedFrames') ?? 0,
    uptimeMs: field(s, 'uptimeMs') ?? 0,
    recording: s.recording || [],
    publisher: publisher && {
      addr: publisher.addr,
      protocol: publisher.protocol,
      startedAtMs: field(publisher, 'startedAtMs'),
    },
  };
}

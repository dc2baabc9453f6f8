'use strict';
// Browser side of the voice agent proxy conformance harness. Playwright drives
// the page and reads every observable through data-testid elements, so those
// elements hold exact, machine-readable text and nothing else.

const DEFAULT_PROMPT = 'You are a helpful test agent. Answer briefly.';
// Errors that end a session normally (idle / max duration) are counted apart
// so tests can tell expected shutdowns from real failures.
const RECOVERABLE_CODES = new Set(['idle_timeout', 'session_max_duration']);
const DEFAULT_IDLE_TIMEOUT_MS = 10000;

const params = new URLSearchParams(location.search);
const config = {
  mode: params.get('connectionMode') || 'proxy',
  endpoint: params.get('proxyEndpoint'),
  greeting: params.get('greeting'), // null when absent, so Settings omits it
  prompt: params.get('prompt') ?? DEFAULT_PROMPT,
  model: params.get('model') || 'gpt-realtime',
  // JSON lists, passed through to Settings: [{role, content}] and [{name, description, parameters}].
  context: parseJsonParam('context'),
  functions: parseJsonParam('functions'),
  // What the host's function handler answers to every FunctionCallRequest.
  functionResult: params.get('functionResult') ?? '{"result":"ok"}',
  // As many apps in the field do: stream the microphone as soon as the socket is open, before SettingsApplied
  // (the proxy must hold that audio until the upstream session is configured: ORD-2).
  micEarly: params.get('micEarly') === 'true',
  // As apps of this family do: close the socket after this many ms without agent activity (0: never).
  idleTimeout: parseNumberParam('idleTimeout', DEFAULT_IDLE_TIMEOUT_MS),
  // Settings.agent.think.provider.temperature, only when given (real apps send one; the GA session has no such
  // field, so the proxy must not pass it on).
  temperature: parseNumberParam('temperature', null),
};

function parseJsonParam(name) {
  const raw = params.get(name);
  if (raw === null) return null;
  try { return JSON.parse(raw); } catch { return undefined; }
}

// A number, `fallback` when absent, NaN when not a number (reported as a configuration error).
function parseNumberParam(name, fallback) {
  const raw = params.get(name);
  if (raw === null || raw.trim() === '') return fallback;
  return Number(raw);
}

function el(tag, testId, text) {
  const node = document.createElement(tag);
  if (testId) node.dataset.testid = testId;
  if (text !== undefined) node.textContent = text;
  return node;
}

const ui = {
  status: el('span', 'connection-status', 'closed'),
  settings: el('span', 'has-sent-settings', 'false'),
  input: el('input', 'text-input'),
  send: el('button', 'send-button', 'Send'),
  response: el('div', 'agent-response', '(Waiting for agent response...)'),
  history: el('div', 'conversation-history'),
  greeting: el('span', 'greeting-sent'),
  errors: el('span', 'agent-error-count', '0'),
  lastError: el('span', 'last-error-code', ''),
  recoverable: el('span', 'recoverable-agent-error-count', '0'),
  audio: el('span', 'agent-audio-chunks-received', '0'),
  played: el('span', 'agent-audio-chunks-played', '0'),
  microphone: el('button', 'microphone-button', 'Start microphone'),
  micFrames: el('span', 'microphone-frames-sent', '0'),
  // Who closed the last connection: `client` (this page: its idle timer or a disconnect) or `server`; empty
  // while a connection is open or before the first.
  closeInitiator: el('span', 'close-initiator', ''),
  functionCalls: el('div', 'function-call-requests'),
  log: el('pre', 'event-log'),
};
ui.input.type = 'text';
ui.input.placeholder = 'Type a message';
ui.send.type = 'button';
ui.microphone.type = 'button';
ui.microphone.dataset.state = 'off';
ui.greeting.hidden = true;

const counts = { errors: 0, recoverable: 0, audio: 0, played: 0, micFrames: 0 };
function bump(name) {
  counts[name] += 1;
  ui[name].textContent = String(counts[name]);
}

// Append a text node rather than rewriting textContent: audio streams can add
// thousands of lines and rewriting the whole log each time would be quadratic.
function log(direction, text) {
  const line = `${performance.now().toFixed(1)} ${direction} ${text}\n`;
  ui.log.appendChild(document.createTextNode(line));
  console.info(`[voice-agent] ${direction} ${text}`);  // the browser's view, kept in a failed test's report
}

function describe(msg) {
  const parts = [msg?.type ?? '(untyped)'];
  if (msg?.type === 'ConversationText') parts.push(msg.role);
  if (msg?.type === 'Error') parts.push(msg.code);
  return parts.filter((p) => p !== undefined && p !== null).join(' ');
}

// Per-connection state. `ws` is the current socket; events from an older
// socket that is still closing must not overwrite the state of a newer one.
let ws = null;
let settingsApplied = false;
let userSentOnConnection = false;
// Texts submitted before SettingsApplied: the proxy must not see user input
// before it has acknowledged Settings, so they wait here and keep their order.
const pending = [];

const configError = !config.endpoint ? 'missing proxyEndpoint URL parameter'
  : config.context === undefined ? 'context URL parameter is not JSON'
  : config.functions === undefined ? 'functions URL parameter is not JSON'
  : !(Number.isFinite(config.idleTimeout) && config.idleTimeout >= 0)
    ? 'idleTimeout URL parameter is not a number of milliseconds (0 turns the idle timer off)'
  : Number.isNaN(config.temperature) ? 'temperature URL parameter is not a number'
  : config.mode !== 'proxy' ? `unsupported connectionMode ${config.mode}` : null;

function settingsMessage() {
  const agent = {
    think: { provider: { type: 'open_ai', model: config.model }, prompt: config.prompt },
  };
  if (config.temperature !== null) agent.think.provider.temperature = config.temperature;
  if (config.greeting !== null) agent.greeting = config.greeting;
  if (Array.isArray(config.context)) agent.context = { messages: config.context };
  if (Array.isArray(config.functions)) agent.think.functions = config.functions;
  return {
    type: 'Settings',
    audio: { input: { encoding: 'linear16', sample_rate: INPUT_RATE },
             output: { encoding: 'linear16', sample_rate: OUTPUT_RATE } },
    agent,
  };
}

// ---------------------------------------------------------------- microphone and playback
// The microphone is captured at the declared input rate (the AudioContext resamples the device, once) with
// the browser's echo cancellation, noise suppression and gain control off, and sent as binary PCM16 frames
// of 20 ms once SettingsApplied has come. Reply audio (binary frames) is scheduled back to back at the
// declared output rate; agent-audio-chunks-played counts the chunks that finished playing.
const INPUT_RATE = 24000;
const OUTPUT_RATE = 24000;
let microphone = null;   // { stream, context, node }
let micStarting = false; // a start is in progress (getUserMedia and the worklet take a while)
let micStopAsked = false; // the control was clicked again during that start: stop once it is done
let player = null;       // { context, at, playing: sources scheduled and not yet ended }

// Every start is a capture of its own (a new stream, AudioContext and worklet), so a user can speak, stop and
// speak again on one connection; each capture sends its own frames.
async function startMicrophone() {
  if (microphone || micStarting) return;
  connect();
  micStarting = true;
  micStopAsked = false;
  ui.microphone.dataset.state = 'starting';
  try {
    await openMicrophone();
  } catch (err) {
    ui.microphone.dataset.state = 'off';
    throw err;
  } finally {
    micStarting = false;
  }
  if (micStopAsked) stopMicrophone();
}

async function openMicrophone() {
  const stream = await navigator.mediaDevices.getUserMedia({
    audio: { channelCount: 1, echoCancellation: false, noiseSuppression: false, autoGainControl: false },
  });
  const context = new AudioContext({ sampleRate: INPUT_RATE });
  try {
    await context.audioWorklet.addModule('pcm-worklet.js');
  } catch (err) {
    stream.getTracks().forEach((track) => track.stop());
    context.close();
    throw err;
  }
  const node = new AudioWorkletNode(context, 'pcm16-frames',
    { processorOptions: { frameSamples: INPUT_RATE / 50 } });
  node.port.onmessage = (event) => {
    if (microphone?.node !== node) return;   // a frame still on its way from a stopped capture
    if (!ws || ws.readyState !== WebSocket.OPEN || !(settingsApplied || config.micEarly)) return;
    ws.send(event.data);
    bump('micFrames');
  };
  context.createMediaStreamSource(stream).connect(node);
  node.connect(context.destination);   // a node off the graph is not processed
  microphone = { stream, context, node };
  ui.microphone.dataset.state = 'on';
  ui.microphone.textContent = 'Stop microphone';
  log('mic', `capturing at ${INPUT_RATE} Hz`);
}

function stopMicrophone() {
  if (!microphone) return;
  microphone.stream.getTracks().forEach((track) => track.stop());
  microphone.context.close();
  microphone = null;
  ui.microphone.dataset.state = 'off';
  ui.microphone.textContent = 'Start microphone';
  log('mic', 'stopped');
}

function play(buffer) {
  if (!player) player = { context: new AudioContext({ sampleRate: OUTPUT_RATE }), at: 0, playing: 0 };
  const samples = new Int16Array(buffer, 0, buffer.byteLength >> 1);
  if (!samples.length) return;
  const audio = player.context.createBuffer(1, samples.length, OUTPUT_RATE);
  const channel = audio.getChannelData(0);
  for (let i = 0; i < samples.length; i += 1) channel[i] = samples[i] / 0x8000;
  const source = player.context.createBufferSource();
  source.buffer = audio;
  source.connect(player.context.destination);
  source.onended = () => {
    bump('played');
    player.playing -= 1;
    if (!player.playing) restartIdleTimer();   // playback ended: the idle countdown starts afresh
  };
  player.at = Math.max(player.at, player.context.currentTime);
  source.start(player.at);
  player.playing += 1;
  player.at += audio.duration;
}

// Audio is still playing (a suspended AudioContext plays nothing, so nothing of it is waited for).
function audioPlaying() {
  return Boolean(player && player.playing > 0 && player.context.state === 'running');
}

// ---------------------------------------------------------------- idle timer
// As apps of this family do, the page closes the socket itself (1000, "Closed by client") once idleTimeout ms
// passed without agent activity (PROTOCOL.md section 6). Activity is what the proxy sends: AgentStartedSpeaking,
// ConversationText, audio frames, AgentAudioDone, UserStartedSpeaking. The countdown is held while the agent
// speaks (AgentStartedSpeaking until AgentAudioDone) and while received audio still plays, and starts afresh
// when that ends: a proxy that never says the agent is speaking loses its socket in a pause of a reply (AGENT-1).
const ACTIVITY = new Set(['AgentStartedSpeaking', 'ConversationText', 'AgentAudioDone', 'UserStartedSpeaking']);
const idle = { timer: null, agentSpeaking: false };

function restartIdleTimer() {
  clearTimeout(idle.timer);
  idle.timer = null;
  if (!config.idleTimeout || !ws || ws.readyState !== WebSocket.OPEN) return;
  if (idle.agentSpeaking || audioPlaying()) return;   // held: restarted when the speaking or the playback ends
  const socket = ws;
  idle.timer = setTimeout(() => {
    idle.timer = null;
    if (socket !== ws) return;
    log('idle', `closed by client (idle timeout): no agent activity for ${config.idleTimeout} ms`);
    disconnect(1000, 'Closed by client');
  }, config.idleTimeout);
}

function stopIdleTimer() {
  clearTimeout(idle.timer);
  idle.timer = null;
  idle.agentSpeaking = false;
}

function sendJson(msg) {
  ws.send(JSON.stringify(msg));
  log('send', describe(msg));
}

function setConnectionState(status) {
  ui.status.textContent = status;
  settingsApplied = false;
  ui.settings.textContent = 'false';
}

function connect() {
  if (configError) return; // already reported once at startup
  if (ws && (ws.readyState === WebSocket.CONNECTING || ws.readyState === WebSocket.OPEN)) return;
  let socket;
  try { socket = new WebSocket(config.endpoint); } catch (err) {
    log('error', `cannot connect: ${err.message}`);
    return;
  }
  socket.binaryType = 'arraybuffer';
  ws = socket;
  userSentOnConnection = false;
  stopIdleTimer();
  ui.closeInitiator.textContent = '';
  setConnectionState('connecting');

  socket.onopen = () => {
    if (socket !== ws) return;
    ui.status.textContent = 'connected';
    log('open', config.endpoint);
    sendJson(settingsMessage());
    restartIdleTimer();   // the countdown runs from the open until the first agent activity
  };
  socket.onmessage = (event) => {
    if (socket === ws) handleFrame(event.data);
  };
  socket.onerror = () => log('error', 'websocket error');
  socket.onclose = (event) => {
    const by = socket.closedByClient ? 'client' : 'server';
    log('close', `code=${event.code} reason=${event.reason} by=${by}`);
    if (socket !== ws) return;
    ws = null;
    stopIdleTimer();
    ui.closeInitiator.textContent = by;
    setConnectionState('closed');
  };
}

// Lets a test end the session from the page side (logged as by=client).
function disconnect(code = 1000, reason = 'client disconnect') {
  if (!ws) return;
  ws.closedByClient = true;
  ws.close(code, reason);
}

function flushPending() {
  if (!settingsApplied || !ws || ws.readyState !== WebSocket.OPEN) return;
  while (pending.length) {
    sendJson({ type: 'InjectUserMessage', content: pending.shift() });
    userSentOnConnection = true;
  }
}

function submit() {
  connect();
  const text = ui.input.value;
  if (!text.trim()) return;
  ui.input.value = '';
  pending.push(text);
  flushPending();
}

// The history mirrors what the proxy echoes, never what the page sent, so
// tests can check the proxy's ConversationText stream directly.
function addHistory(role, content) {
  const item = el('div', null, String(content ?? ''));
  item.dataset.role = role;
  ui.history.appendChild(item);
  if (role !== 'assistant') return;
  ui.response.textContent = String(content ?? '');
  // An assistant turn before any user input on this connection can only be
  // the configured greeting.
  if (!userSentOnConnection && ui.greeting.hidden) {
    ui.greeting.textContent = 'true';
    ui.greeting.hidden = false;
  }
}

function handleFrame(data) {
  if (data instanceof ArrayBuffer) {
    bump('audio');
    log('recv', `binary ${data.byteLength} bytes`);
    play(data);
    restartIdleTimer();
    return;
  }
  let msg;
  try {
    msg = JSON.parse(data);
  } catch {
    log('recv', 'unparsable');
    bump('errors'); // a proxy emitting non-JSON text is a conformance failure
    return;
  }
  log('recv', describe(msg));
  if (msg?.type === 'AgentStartedSpeaking') idle.agentSpeaking = true;
  else if (msg?.type === 'AgentAudioDone') idle.agentSpeaking = false;
  if (ACTIVITY.has(msg?.type)) restartIdleTimer();
  if (msg?.type === 'SettingsApplied') {
    settingsApplied = true;
    ui.settings.textContent = 'true';
    flushPending();
  } else if (msg?.type === 'ConversationText') {
    addHistory(msg.role, msg.content);
  } else if (msg?.type === 'Error') {
    bump(RECOVERABLE_CODES.has(msg.code) ? 'recoverable' : 'errors');
    ui.lastError.textContent = String(msg.code ?? '');
  } else if (msg?.type === 'FunctionCallRequest') {
    // Both shapes exist in the field: a `functions` list, or one flat call.
    const calls = Array.isArray(msg.functions) ? msg.functions : [msg];
    calls.forEach(answerFunctionCall);
  }
}

// The host's handler: show the call, answer it at once with the fixed result.
function answerFunctionCall(call) {
  const item = el('div', null, `${call.name}(${call.arguments ?? ''})`);
  item.dataset.name = String(call.name ?? '');
  item.dataset.id = String(call.id ?? '');
  ui.functionCalls.appendChild(item);
  if (call.client_side === false || !ws || ws.readyState !== WebSocket.OPEN) return;
  sendJson({ type: 'FunctionCallResponse', id: call.id, name: call.name, content: config.functionResult });
}

function row(label, ...children) {
  const div = el('div', null, `${label} `);
  div.className = 'row';
  div.append(...children);
  return div;
}

ui.input.addEventListener('focus', () => connect());
ui.input.addEventListener('keydown', (event) => {
  if (event.key === 'Enter' && !event.isComposing) submit();
});
ui.send.addEventListener('click', () => submit());
ui.microphone.addEventListener('click', () => {
  if (microphone) stopMicrophone();
  else if (micStarting) micStopAsked = true;   // a quick second click: stop as soon as the start is done
  else startMicrophone().catch((err) => log('error', `microphone: ${err.message}`));
});
window.voiceAgentApp = { disconnect };

if (configError) log('error', configError);
else log('config', `idle timer ${config.idleTimeout ? `${config.idleTimeout} ms` : 'off'}`);

// The root goes in last: its presence tells the harness the page is ready.
const root = el('main', 'voice-agent');
root.append(
  row('Status:', ui.status, ' closed by: ', ui.closeInitiator),
  row('Settings applied:', ui.settings),
  row('Greeting sent:', ui.greeting),
  row('Errors:', ui.errors, ' recoverable: ', ui.recoverable, ' last code: ', ui.lastError),
  row('Audio chunks:', ui.audio, ' played: ', ui.played),
  row('Microphone:', ui.microphone, ' frames sent: ', ui.micFrames),
  row('Message:', ui.input, ' ', ui.send),
  row('Agent:', ui.response),
  ui.history,
  row('Function calls:', ui.functionCalls),
  ui.log,
);
document.body.appendChild(root);

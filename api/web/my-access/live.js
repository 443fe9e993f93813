// A small graphql-transport-ws client: one socket, several subscriptions, resumed after a
// reconnection (with backoff) from the last cursor each subscription received.

export class LiveSocket {
  /**
   * @param {() => string} token the bearer token, read at each connection
   * @param {{ onStatus?: (s: string) => void, onAuthFailed?: () => void }} hooks
   */
  constructor(token, hooks = {}) {
    this.token = token;
    this.hooks = hooks;
    this.subs = new Map();
    this.nextId = 1;
    this.delay = 500;
    this.closed = false;
    this.ws = null;
    this.timer = null;
  }

  url() {
    return `${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}/graphql/ws`;
  }

  start() {
    this.closed = false;
    this.connect();
    return this;
  }

  connect() {
    clearTimeout(this.timer);
    const ws = new WebSocket(this.url(), 'graphql-transport-ws');
    this.ws = ws;
    this.acked = false;
    this.hooks.onStatus?.('connecting');
    ws.addEventListener('open', () => {
      this.send({ type: 'connection_init', payload: { Authorization: `Bearer ${this.token()}` } });
    });
    ws.addEventListener('message', (event) => {
      let msg;
      try { msg = JSON.parse(event.data); } catch { return; }
      const sub = this.subs.get(msg.id);
      switch (msg.type) {
        case 'connection_ack':
          this.acked = true;
          this.delay = 500;
          for (const [id, s] of this.subs) this.subscribeOn(id, s);
          this.hooks.onStatus?.('live');
          break;
        case 'ping': this.send({ type: 'pong' }); break;
        case 'next':
          if (sub) {
            const data = msg.payload?.data;
            const first = data && Object.values(data)[0];
            if (first?.cursor) sub.after = first.cursor;
            if (data) sub.onNext(data);
          }
          break;
        case 'error': sub?.onError?.(msg.payload); break;
        default: break;
      }
    });
    ws.addEventListener('close', (event) => {
      if (this.ws !== ws) return;
      this.acked = false;
      if (this.closed) return;
      if (event.code === 4403) {
        this.hooks.onStatus?.('refused');
        this.hooks.onAuthFailed?.();
        return;
      }
      this.hooks.onStatus?.('reconnecting');
      const wait = this.delay + Math.floor(Math.random() * 250);
      this.delay = Math.min(this.delay * 2, 30000);
      this.timer = setTimeout(() => this.connect(), wait);
    });
  }

  send(msg) {
    if (this.ws?.readyState === WebSocket.OPEN) this.ws.send(JSON.stringify(msg));
  }

  subscribeOn(id, s) {
    const variables = { ...s.variables };
    if (s.after) variables.after = s.after;
    this.send({ id, type: 'subscribe', payload: { query: s.query, variables } });
  }

  /** Subscribes; the query should take `$after: String` to resume. Returns an unsubscribe function. */
  subscribe(query, variables, onNext, onError) {
    const id = String(this.nextId++);
    const s = { query, variables, onNext, onError, after: null };
    this.subs.set(id, s);
    if (this.acked) this.subscribeOn(id, s);
    return () => {
      if (this.subs.delete(id) && this.acked) this.send({ id, type: 'complete' });
    };
  }

  close() {
    this.closed = true;
    clearTimeout(this.timer);
    this.subs.clear();
    this.ws?.close(1000, 'signed out');
    this.ws = null;
  }
}

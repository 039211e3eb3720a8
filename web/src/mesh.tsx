// The live picture every view shares: one Server-Sent Events stream (/api/v1/events) with the
// golden metrics of services, versions and edges, and the config revision. It reconnects with
// backoff; the last few minutes of events are kept for sparklines.
import { createContext, type ComponentChildren } from 'preact';
import { useContext, useEffect, useState } from 'preact/hooks';
import { ApiError, readEvents } from './api.ts';
import type { MeshEvent, Role } from './types.ts';

export type LinkState = 'connecting' | 'live' | 'reconnecting';

export interface MeshLive {
  event: MeshEvent | undefined;
  /** Oldest first, at most HISTORY events. */
  history: MeshEvent[];
  link: LinkState;
  role: Role;
}

const HISTORY = 60;
const MeshContext = createContext<MeshLive>({
  event: undefined,
  history: [],
  link: 'connecting',
  role: 'reader',
});

export function useMesh(): MeshLive {
  return useContext(MeshContext);
}

export function MeshProvider(props: { role: Role; children: ComponentChildren }) {
  const [history, setHistory] = useState<MeshEvent[]>([]);
  const [link, setLink] = useState<LinkState>('connecting');
  useEffect(() => {
    const abort = new AbortController();
    let delay = 1000;
    const run = async (): Promise<void> => {
      while (!abort.signal.aborted) {
        try {
          await readEvents('/api/v1/events?interval=5s', abort.signal, (name, data) => {
            if (name !== 'mesh') return;
            const event = JSON.parse(data) as MeshEvent;
            delay = 1000;
            setLink('live');
            setHistory((h) => [...h.slice(-(HISTORY - 1)), event]);
          });
        } catch (err) {
          if (abort.signal.aborted || (err instanceof ApiError && err.status === 401)) return;
        }
        setLink('reconnecting');
        await new Promise((r) => setTimeout(r, delay));
        delay = Math.min(delay * 2, 10_000);
      }
    };
    void run();
    return () => abort.abort();
  }, []);
  const value: MeshLive = { event: history.at(-1), history, link, role: props.role };
  return <MeshContext.Provider value={value}>{props.children}</MeshContext.Provider>;
}

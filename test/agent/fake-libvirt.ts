// A Libvirt of one domain whose QMP answers a test writes, for the agent's executor tests. The
// real path (our client, libvirtd, QEMU) is tested by test/lab/; this is only what lies below
// the agent, so that its own work (timers, queues, start-up) can be tried in milliseconds.
import { EventEmitter } from "node:events";
import type {
  BlockInfo,
  DomainRef,
  Libvirt,
  LifecycleEvent,
  PoolInfo,
  PoolRef,
  QemuMonitorEvent,
  Subscription,
  VolumeRef,
} from "../../src/libvirt/api.js";
import { formatMetadata, type HybridMetadata } from "../../src/libvirt/xml/metadata.js";

/**
 * Storage, block info and the host are not below the agent: an agent test that gets here is
 * testing the wrong thing (a storage test overrides what it needs: test/libvirt/images.test.ts).
 */
async function notInFake(call: string): Promise<never> {
  throw new Error(`${call}: not in the fake`);
}

/** Answers one QMP command: a value, an error to throw, or a promise (that may never settle: a hung QEMU). */
export type QmpAnswer = (command: string, args?: Record<string, unknown>) => unknown;

export class FakeLibvirt extends EventEmitter implements Libvirt {
  readonly uri = "qemu:///system";
  readonly dom: DomainRef;
  /** Every QMP command run, in order. */
  readonly commands: string[] = [];
  private readonly handlers: { event: string | undefined; h: (e: QemuMonitorEvent) => void }[] = [];
  metadataWrites = 0;

  constructor(
    name: string,
    private readonly meta: HybridMetadata | undefined,
    public answer: QmpAnswer,
  ) {
    super();
    this.dom = { name, uuid: "023a047a-c210-4b13-8bbc-0c95aee1b185", id: 1 };
  }

  async lookupByName(): Promise<DomainRef> {
    return this.dom;
  }
  async lookupByUuid(): Promise<DomainRef> {
    return this.dom;
  }
  async domainXml(): Promise<string> {
    const metadata =
      this.meta === undefined ? "" : `<metadata>${formatMetadata(this.meta)}</metadata>`;
    // libvirt returns our element without its prefix but in our namespace.
    return `<domain type='qemu'><name>${this.dom.name}</name><uuid>${this.dom.uuid}</uuid>${metadata.replace(
      "<hybrid>",
      '<hybrid xmlns="http://colo-hybrid.org/xmlns/domain/1.0">',
    )}</domain>`;
  }
  async defineXml(): Promise<DomainRef> {
    return this.dom;
  }
  async undefine(): Promise<void> {}
  async domainState() {
    return { state: "running" as const, reason: 0 };
  }
  async getMetadata(): Promise<string | undefined> {
    return undefined;
  }
  async setMetadata(): Promise<void> {
    this.metadataWrites++;
  }
  async create(): Promise<void> {}
  async destroy(): Promise<void> {}
  async suspend(): Promise<void> {}
  async resume(): Promise<void> {}

  async qmp(_dom: DomainRef, command: string, args?: Record<string, unknown>): Promise<unknown> {
    this.commands.push(command);
    const a = await this.answer(command, args);
    if (a instanceof Error) throw a;
    return a;
  }

  async onQemuMonitorEvent(
    _dom: DomainRef | undefined,
    event: string | undefined,
    handler: (e: QemuMonitorEvent) => void,
  ): Promise<Subscription> {
    this.handlers.push({ event, h: handler });
    return { close: async () => undefined };
  }

  async onLifecycle(
    _dom: DomainRef | undefined,
    _handler: (e: LifecycleEvent) => void,
  ): Promise<Subscription> {
    return { close: async () => undefined };
  }

  domainBlockInfo(): Promise<BlockInfo> {
    return notInFake("domainBlockInfo");
  }
  capabilities(): Promise<string> {
    return notInFake("capabilities");
  }
  freeMemory(): Promise<number> {
    return notInFake("freeMemory");
  }
  poolLookupByName(_name: string): Promise<PoolRef> {
    return notInFake("poolLookupByName");
  }
  poolDefineXml(): Promise<PoolRef> {
    return notInFake("poolDefineXml");
  }
  poolBuild(): Promise<void> {
    return notInFake("poolBuild");
  }
  poolCreate(): Promise<void> {
    return notInFake("poolCreate");
  }
  poolSetAutostart(): Promise<void> {
    return notInFake("poolSetAutostart");
  }
  poolRefresh(): Promise<void> {
    return notInFake("poolRefresh");
  }
  poolInfo(): Promise<PoolInfo> {
    return notInFake("poolInfo");
  }
  volCreateXml(_pool: PoolRef, _xml: string): Promise<VolumeRef> {
    return notInFake("volCreateXml");
  }
  volLookupByPath(_path: string): Promise<VolumeRef> {
    return notInFake("volLookupByPath");
  }
  volPath(): Promise<string> {
    return notInFake("volPath");
  }
  volDelete(_vol: VolumeRef): Promise<void> {
    return notInFake("volDelete");
  }

  /** QEMU sends an event, to the subscriptions of its name (libvirt filters so). */
  send(event: string, details?: unknown): void {
    const now = Date.now();
    const e: QemuMonitorEvent = {
      domain: this.dom,
      event,
      timestamp: now,
      seconds: Math.floor(now / 1000),
      micros: (now % 1000) * 1000,
      details,
    };
    for (const { event: name, h } of this.handlers) if (name === undefined || name === event) h(e);
  }

  async close(): Promise<void> {}
}

/** QEMU's answers for a side in COLO; `overrides` by command. */
export function coloQemu(
  mode: "primary" | "secondary",
  overrides: Record<string, QmpAnswer> = {},
): QmpAnswer {
  const base: Record<string, unknown> = {
    "query-version": { qemu: { major: 7, minor: 2, micro: 22 }, package: "" },
    "query-kvm": { enabled: false },
    "query-migrate": { status: "colo" },
    "query-colo-status": { mode, "last-mode": "none", reason: "none" },
    "query-status": { status: "running" },
    "query-migrate-parameters": { "x-checkpoint-delay": 20000 },
    "query-migrate-capabilities": [{ capability: "x-colo", state: false }],
  };
  return (command, args) => {
    const o = overrides[command];
    if (o !== undefined) return o(command, args);
    return command in base ? base[command] : {};
  };
}

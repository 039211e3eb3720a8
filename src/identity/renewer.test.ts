import assert from 'node:assert/strict';
import { test, type TestContext } from 'node:test';
import { setImmediate as tick } from 'node:timers/promises';
import type { Logger } from 'pino';
import type { CertificateAuthority } from './ca.ts';
import { createCsr, generateWorkloadKey } from './csr.ts';
import { IdentityError } from './errors.ts';
import { CertificateRenewer, type RenewerLog, type WorkloadCertificate } from './renewer.ts';
import { mtlsExchange, openTestCa } from './testing.ts';

const ID = 'spiffe://cluster.local/ns/default/sa/reviews';
const MIN = 60_000;

// The sidecar passes its pino logger; this line fails to compile if it stops fitting.
const _pinoFits = (l: Logger): RenewerLog => l;

/** Waits for `probe` on real time (setTimeout is mocked in these tests; setImmediate is not). */
async function until<T>(what: string, probe: () => T | undefined | false): Promise<T> {
  const deadline = performance.now() + 5000;
  for (let i = 0; i < 1_000_000 && performance.now() < deadline; i++) {
    const v = probe();
    if (v !== undefined && v !== false) return v;
    await tick();
  }
  throw new Error(`timed out waiting for ${what}`);
}

/**
 * The first certificate, on real time: a first attempt that fails schedules its retry on the
 * mocked setTimeout, which nothing here advances, so say why instead of waiting for the test's timeout.
 */
async function firstCertificate(h: Harness): Promise<WorkloadCertificate> {
  void h.renewer.start();
  try {
    return await until('the first certificate', () => h.renewer.current());
  } catch (err) {
    throw new Error(`${(err as Error).message}; the renewer warned: ${JSON.stringify(h.warnings)}`, {
      cause: err,
    });
  }
}

interface Harness {
  ca: CertificateAuthority;
  renewer: CertificateRenewer;
  clock: { now: number };
  updates: WorkloadCertificate[];
  warnings: string[];
  requests: { count: number; fail: boolean; hang: boolean };
  /** Moves the shared clock and the mocked timers forward together. */
  advance(ms: number): void;
}

async function harness(t: TestContext, ttlMs = 2 * MIN): Promise<Harness> {
  const clock = { now: Date.now() };
  const ca = await openTestCa(t, { now: () => clock.now });
  // Only setTimeout is mocked: the store and WebCrypto keep real time.
  t.mock.timers.enable({ apis: ['setTimeout'] });
  const requests = { count: 0, fail: false, hang: false };
  const warnings: string[] = [];
  const renewer = new CertificateRenewer({
    spiffeId: ID,
    now: () => clock.now,
    minRetryMs: 1000,
    maxRetryMs: 8000,
    requestTimeoutMs: 10_000,
    log: { info: () => {}, warn: (m) => warnings.push(m) },
    request: async (csrPem) => {
      requests.count++;
      if (requests.hang) return new Promise(() => {});
      if (requests.fail) throw new Error('control plane unreachable');
      const signed = await ca.sign(csrPem, { spiffeId: ID, ttlMs });
      return { certChainPem: signed.certChainPem, trustBundlePem: ca.trustBundlePem() };
    },
  });
  t.after(() => renewer.stop());
  const updates: WorkloadCertificate[] = [];
  renewer.onUpdate((c) => updates.push(c));
  const advance = (ms: number): void => {
    clock.now += ms;
    t.mock.timers.tick(ms);
  };
  return { ca, renewer, clock, updates, warnings, requests, advance };
}

test('renews at 2/3 of the lifetime with a new key, and onUpdate hands over the new certificate', async (t) => {
  const h = await harness(t);
  const first = await firstCertificate(h);
  assert.equal(first.spiffeId, ID);
  assert.equal(h.renewer.current(), first);
  assert.deepEqual(h.updates, [first]);

  // The leaf lives 3 minutes (backdated 1); renewal is due 2 minutes ±5 % after notBefore.
  const life = first.notAfter.getTime() - first.notBefore.getTime();
  assert.equal(life, 3 * MIN);
  const due = h.renewer.nextAttemptAt();
  assert.ok(due !== undefined);
  const fraction = (due.getTime() - first.notBefore.getTime()) / life;
  assert.ok(
    fraction >= (2 / 3) * 0.95 - 0.001 && fraction <= (2 / 3) * 1.05 + 0.001,
    `renews at ${fraction}`,
  );

  // Short of the due time nothing is asked.
  const untilDue = due.getTime() - h.clock.now;
  h.advance(untilDue - 1000);
  assert.ok(h.renewer.nextAttemptAt() !== undefined, 'no attempt started early');
  await tick();
  assert.equal(h.requests.count, 1);

  h.advance(1000);
  const second = await until('the renewed certificate', () => h.updates[1]);
  assert.equal(h.requests.count, 2);
  assert.notEqual(second.serial, first.serial);
  assert.notEqual(second.privateKeyPem, first.privateKeyPem, 'a new key each time');
  assert.ok(second.notAfter > first.notAfter);
  assert.equal(h.renewer.current(), second);

  // And again, from the new certificate's lifetime.
  h.advance((h.renewer.nextAttemptAt()?.getTime() ?? 0) - h.clock.now);
  const third = await until('the second renewal', () => h.updates[2]);
  assert.ok(third.notAfter > second.notAfter);
  assert.deepEqual(h.warnings, []);
});

test('the certificate works for mTLS with a peer issued by the same CA', async (t) => {
  const ca = await openTestCa(t);
  const renewerFor = (spiffeId: string): CertificateRenewer => {
    const r = new CertificateRenewer({
      spiffeId,
      log: { info: () => {}, warn: () => {} },
      request: async (csrPem) => ({
        certChainPem: (await ca.sign(csrPem, { spiffeId, ttlMs: 30 * MIN })).certChainPem,
        trustBundlePem: ca.trustBundlePem(),
      }),
    });
    t.after(() => r.stop());
    return r;
  };
  const peerId = 'spiffe://cluster.local/ns/default/sa/ratings';
  const mine = await renewerFor(ID).start();
  const theirs = await renewerFor(peerId).start();
  const r = await mtlsExchange(mine, theirs, { server: mine.trustBundlePem, client: theirs.trustBundlePem });
  assert.deepEqual(r, { ok: true, serverSawClient: peerId, clientSawServer: ID, error: undefined });
});

/** Jumps the clock to `at`, then lets the pending retry and one more run there. */
async function retriesAt(h: Harness, at: number): Promise<void> {
  for (let i = 0; i < 2; i++) {
    const pending = (h.renewer.nextAttemptAt()?.getTime() ?? 0) - h.clock.now;
    if (i === 0) h.clock.now = at - pending;
    const before = h.requests.count;
    h.advance(pending);
    await until('a retry', () => h.requests.count > before && h.renewer.nextAttemptAt() !== undefined);
  }
}

test('a failing control plane: the old certificate stays, retries back off, warnings come near and past expiry', async (t) => {
  const h = await harness(t);
  const first = await firstCertificate(h);
  h.requests.fail = true;
  h.advance((h.renewer.nextAttemptAt()?.getTime() ?? 0) - h.clock.now);
  await until('the first failure', () => h.warnings.length === 1);
  assert.equal(h.renewer.current(), first, 'the old certificate is kept');
  assert.match(h.warnings[0] ?? '', /renewal .* failed \(control plane unreachable\); retrying in \d+ ms/);

  // Exponential backoff: each retry waits longer, up to maxRetryMs (8 s).
  const delays: number[] = [];
  for (let i = 0; i < 6; i++) {
    const next = h.renewer.nextAttemptAt();
    assert.ok(next !== undefined);
    const delay = next.getTime() - h.clock.now;
    delays.push(delay);
    const before = h.requests.count;
    h.advance(delay);
    await until(`retry ${i + 1}`, () => h.requests.count > before && h.renewer.nextAttemptAt() !== undefined);
  }
  assert.ok(delays[0]! >= 500 && delays[0]! <= 1000, `first retry after ${delays[0]} ms`);
  assert.ok(delays[2]! >= 2000 && delays[2]! <= 4000, `third retry after ${delays[2]} ms`);
  assert.ok(
    delays.every((d) => d <= 8000),
    `bounded: ${delays.join(', ')}`,
  );
  assert.equal(h.renewer.current(), first);

  // Under 1/6 of the lifetime (30 s of 3 min) left: one warning, not one per retry.
  await retriesAt(h, first.notAfter.getTime() - 20_000);

  assert.equal(h.warnings.filter((w) => /expires at .* cannot be renewed/.test(w)).length, 1);

  // Past expiry: warned once more, still trying.
  await retriesAt(h, first.notAfter.getTime() + 1000);

  assert.equal(h.warnings.filter((w) => /expired at .*still trying/.test(w)).length, 1);
  assert.equal(h.renewer.current(), first);

  // The control plane is back: renewNow does not wait for the backoff.
  h.requests.fail = false;
  h.renewer.renewNow();
  const renewed = await until('renewal after recovery', () => h.updates[1]);
  assert.ok(renewed.notAfter > first.notAfter);
  assert.equal(h.renewer.current(), renewed);
});

test('first issuance retries until it works; a hung request times out; stop() ends it all', async (t) => {
  const h = await harness(t);
  h.requests.hang = true;
  const started = h.renewer.start();
  await until('the first request', () => h.requests.count === 1);
  assert.equal(h.renewer.nextAttemptAt(), undefined, 'in flight: only the timeout is armed');
  h.advance(10_000);
  await until('the timeout', () => h.warnings.length === 1);
  assert.match(h.warnings[0] ?? '', /^certificate for .* failed \(no answer within 10000 ms\)/);

  h.requests.hang = false;
  h.requests.fail = true;
  h.advance((h.renewer.nextAttemptAt()?.getTime() ?? 0) - h.clock.now);
  await until('a failed retry', () => h.warnings.length === 2);
  assert.equal(h.renewer.current(), undefined);

  h.requests.fail = false;
  h.advance((h.renewer.nextAttemptAt()?.getTime() ?? 0) - h.clock.now);
  const cert = await started;
  assert.equal(cert.spiffeId, ID);
  assert.equal(h.requests.count, 3);

  h.renewer.stop();
  assert.equal(h.renewer.nextAttemptAt(), undefined);
  h.advance(10 * MIN);
  await tick();
  assert.equal(h.requests.count, 3, 'nothing happens after stop()');

  const never = new CertificateRenewer({ spiffeId: ID, request: () => new Promise(() => {}) });
  const p = never.start();
  never.stop();
  await assert.rejects(p, (err) => err instanceof IdentityError && err.code === 'TRELLIS_RENEWER_STOPPED');
});

test('a certificate for another identity or another key is refused and retried', async (t) => {
  const h = await harness(t);
  const other = 'spiffe://cluster.local/ns/default/sa/other';
  const stranger = await generateWorkloadKey();
  const answers = [
    // Signed for another service account.
    async () =>
      (await h.ca.sign(await createCsr(stranger.keys, other), { spiffeId: other, ttlMs: 2 * MIN }))
        .certChainPem,
    // Right identity, but not this workload's key.
    async () =>
      (await h.ca.sign(await createCsr(stranger.keys, ID), { spiffeId: ID, ttlMs: 2 * MIN })).certChainPem,
  ];
  let calls = 0;
  const renewer = new CertificateRenewer({
    spiffeId: ID,
    now: () => h.clock.now,
    log: { info: () => {}, warn: (m) => h.warnings.push(m) },
    request: async () => {
      const answer = answers[calls++];
      if (answer === undefined) throw new Error('no more answers');
      return { certChainPem: await answer(), trustBundlePem: h.ca.trustBundlePem() };
    },
  });
  t.after(() => renewer.stop());
  void renewer.start();
  await until('two refusals', () => h.warnings.length >= 1);
  assert.match(h.warnings[0] ?? '', /names spiffe:\/\/cluster\.local\/ns\/default\/sa\/other, not/);
  h.advance((renewer.nextAttemptAt()?.getTime() ?? 0) - h.clock.now);
  await until('the second refusal', () => h.warnings.length >= 2);
  assert.match(h.warnings[1] ?? '', /not for the key this workload generated/);
  assert.equal(renewer.current(), undefined);
});

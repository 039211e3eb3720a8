// A throwaway self-signed P-256 certificate for localhost / 127.0.0.1, made with openssl.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface TestCert {
  key: Buffer;
  cert: Buffer;
  keyPath: string;
  certPath: string;
  /** Removes the temp dir holding the files. */
  cleanup(): void;
}

export function makeCert(): TestCert {
  const dir = mkdtempSync(join(tmpdir(), 'trellis-cert-'));
  const keyPath = join(dir, 'key.pem');
  const certPath = join(dir, 'cert.pem');
  execFileSync(
    'openssl',
    [
      'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-days', '1',
      '-subj', '/CN=localhost', '-addext', 'subjectAltName=DNS:localhost,IP:127.0.0.1',
      '-keyout', keyPath, '-out', certPath,
    ], // prettier-ignore
    { stdio: 'ignore', timeout: 20_000 },
  );
  return {
    key: readFileSync(keyPath),
    cert: readFileSync(certPath),
    keyPath,
    certPath,
    cleanup: () => rmSync(dir, { recursive: true, force: true }),
  };
}

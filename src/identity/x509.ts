// The one door to @peculiar/x509: it needs reflect-metadata loaded before it (tsyringe inside), and a
// WebCrypto provider. Everything in src/identity imports it from here so both are always in place.
import 'reflect-metadata';
import * as x509 from '@peculiar/x509';

x509.cryptoProvider.set(globalThis.crypto);

export { x509 };

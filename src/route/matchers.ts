// Compiled request matchers: one object per configured match, built once per config. The hot-path
// functions below take plain arguments (no closures, no per-request arrays).
import type { RE2JS } from 're2js';
import type { HeaderList } from '../proxy/types.ts';

// Value tests shared by path, header and query matchers.
export const KIND_ANY = 0; // no value test (path: matches every path; header/query: presence only)
export const KIND_EXACT = 1;
export const KIND_PREFIX = 2;
export const KIND_SUFFIX = 3;
export const KIND_REGEX = 4;
export type ValueKind = 0 | 1 | 2 | 3 | 4;

/** Full-match test of `value` (RE2 semantics: linear time, no backtracking). */
export function testValue(kind: ValueKind, text: string, regex: RE2JS | null, value: string): boolean {
  switch (kind) {
    case KIND_EXACT:
      return value === text;
    case KIND_PREFIX:
      return value.startsWith(text);
    case KIND_SUFFIX:
      return value.endsWith(text);
    case KIND_REGEX:
      return regex !== null && regex.testExact(value);
    default:
      return true;
  }
}

// Where a header matcher reads its value: a regular header, or one of the pseudo-headers Envoy
// lets routes match on (the proxy's HeaderList carries neither Host nor pseudo-headers).
export const SOURCE_HEADER = 0;
export const SOURCE_AUTHORITY = 1;
export const SOURCE_METHOD = 2;
export const SOURCE_PATH = 3;
export type HeaderSource = 0 | 1 | 2 | 3;

export function headerSourceOf(name: string): HeaderSource {
  switch (name) {
    case ':authority':
    case 'host':
      return SOURCE_AUTHORITY;
    case ':method':
      return SOURCE_METHOD;
    case ':path':
      return SOURCE_PATH;
    default:
      return SOURCE_HEADER;
  }
}

export class CompiledHeaderMatch {
  readonly name: string;
  readonly source: HeaderSource;
  readonly kind: ValueKind;
  readonly text: string;
  readonly regex: RE2JS | null;
  /** undefined: a value test (or bare presence); true/false: explicit present/absent test. */
  readonly present: boolean | undefined;
  readonly invert: boolean;
  constructor(
    name: string,
    kind: ValueKind,
    text: string,
    regex: RE2JS | null,
    present: boolean | undefined,
    invert: boolean,
  ) {
    this.name = name;
    this.source = headerSourceOf(name);
    this.kind = kind;
    this.text = text;
    this.regex = regex;
    this.present = present;
    this.invert = invert;
  }
}

/** First value of `name` in a flat header list, without allocating. */
function firstHeader(headers: HeaderList, name: string): string | undefined {
  for (let i = 0; i < headers.length; i += 2) if (headers[i] === name) return headers[i + 1];
  return undefined;
}

/**
 * Envoy's HeaderUtility::matchHeaders: a missing header matches only an explicit absence test
 * (or, inverted, an explicit presence test); otherwise the value test's result, inverted if asked.
 */
export function matchHeader(
  m: CompiledHeaderMatch,
  headers: HeaderList,
  authority: string,
  method: string,
  path: string,
): boolean {
  let value: string | undefined;
  switch (m.source) {
    case SOURCE_AUTHORITY:
      value = authority;
      break;
    case SOURCE_METHOD:
      value = method;
      break;
    case SOURCE_PATH:
      value = path;
      break;
    default:
      value = firstHeader(headers, m.name);
  }
  if (value === undefined) return m.invert ? m.present === true : m.present === false;
  const matched = m.present !== undefined ? m.present : testValue(m.kind, m.text, m.regex, value);
  return matched !== m.invert;
}

export class CompiledQueryMatch {
  readonly name: string;
  readonly kind: ValueKind;
  readonly text: string;
  readonly regex: RE2JS | null;
  readonly present: boolean | undefined;
  constructor(
    name: string,
    kind: ValueKind,
    text: string,
    regex: RE2JS | null,
    present: boolean | undefined,
  ) {
    this.name = name;
    this.kind = kind;
    this.text = text;
    this.regex = regex;
    this.present = present;
  }
}

export function matchQuery(m: CompiledQueryMatch, params: Map<string, string>): boolean {
  const value = params.get(m.name);
  if (value === undefined) return m.present === false;
  if (m.present !== undefined) return m.present;
  return testValue(m.kind, m.text, m.regex, value);
}

function decodeComponent(raw: string): string {
  if (raw.indexOf('%') < 0 && raw.indexOf('+') < 0) return raw;
  const spaced = raw.replaceAll('+', ' ');
  try {
    return decodeURIComponent(spaced);
  } catch {
    return spaced; // malformed escapes: match on the text as sent rather than failing the request
  }
}

/** Parses `a=1&b=x%20y` (form-decoded); the first occurrence of a name wins, as Envoy. */
export function parseQuery(query: string): Map<string, string> {
  const params = new Map<string, string>();
  let start = 0;
  while (start <= query.length) {
    let end = query.indexOf('&', start);
    if (end < 0) end = query.length;
    if (end > start) {
      const eq = query.indexOf('=', start);
      const hasValue = eq >= 0 && eq < end;
      const name = decodeComponent(query.slice(start, hasValue ? eq : end));
      if (!params.has(name)) params.set(name, hasValue ? decodeComponent(query.slice(eq + 1, end)) : '');
    }
    start = end + 1;
  }
  return params;
}

// llhttp hands a header name or value over in pieces when it spans two reads; this joins them
// into a flat HeaderList (names lower-cased). One per parser, shared by requests and responses.
import type { HeaderList } from '../proxy/types.ts';
import { commonHeaderName } from './header-names.ts';

export class RawHeaderCollector {
  list: HeaderList = [];
  private fieldPending = false;

  /** Starts a new list (a new message, or its trailers); the old list stays with whoever took it. */
  reset(): void {
    this.list = [];
    this.fieldPending = false;
  }

  field(buf: Buffer, start: number, end: number): void {
    if (this.fieldPending) {
      this.list[this.list.length - 1] += buf.latin1Slice(start, end).toLowerCase();
      return;
    }
    // The first piece of a name split across reads may match a common one; += makes a new string.
    this.list.push(commonHeaderName(buf, start, end) ?? buf.latin1Slice(start, end).toLowerCase());
    this.fieldPending = true;
  }

  value(buf: Buffer, start: number, end: number): void {
    const text = buf.latin1Slice(start, end);
    if (this.fieldPending) {
      this.list.push(text);
      this.fieldPending = false;
    } else this.list[this.list.length - 1] += text;
  }
}

export function TapView(_props: { query: URLSearchParams }) {
  return <h1>Tap</h1>;
}

export function SecurityView() {
  return <h1>Security</h1>;
}

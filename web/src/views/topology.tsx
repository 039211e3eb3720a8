export function TopologyView() {
  return <h1>Topology</h1>;
}

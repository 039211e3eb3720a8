// A time-series line chart (uPlot) that follows its container's width. A canvas says nothing to a
// screen reader, so the figure carries a text summary (each series' latest value and range) as its
// accessible name, and series differ by dash pattern as well as colour.
import { useEffect, useRef } from 'preact/hooks';
import uPlot from 'uplot';
import 'uplot/dist/uPlot.min.css';

export interface ChartSeries {
  label: string;
  /** One value per timestamp; null: no data in that bucket (drawn as a gap). */
  values: (number | null)[];
}

export interface TimeChartProps {
  title: string;
  /** Epoch milliseconds, oldest first, one per value of every series. */
  x: number[];
  series: ChartSeries[];
  /** How a y value reads on the axis, in the legend and in the summary. */
  format: (v: number | null | undefined) => string;
  /** Fixed y range (e.g. [0, 1] for a ratio); absent: from the data, starting at 0. */
  yRange?: [number, number];
  height?: number;
}

const COLOURS = ['#0b5cad', '#b3261e', '#17703a', '#8a5a00', '#6b3fa0', '#0f766e'];
const DASHES: number[][] = [[], [6, 3], [2, 2], [8, 3, 2, 3]];

function latest(values: (number | null)[]): number | null {
  for (let i = values.length - 1; i >= 0; i--) {
    const v = values[i];
    if (v !== null && v !== undefined) return v;
  }
  return null;
}

/** "Request rate over 15 minutes: v1 latest 3.40, range 0.00 to 4.10; v2 …" */
export function chartSummary(props: Pick<TimeChartProps, 'title' | 'x' | 'series' | 'format'>): string {
  const first = props.x[0];
  const last = props.x.at(-1);
  const minutes = first !== undefined && last !== undefined ? Math.round((last - first) / 60_000) : 0;
  const parts = props.series.map((s) => {
    const present = s.values.filter((v): v is number => v !== null);
    if (present.length === 0) return `${s.label}: no data`;
    const lo = Math.min(...present);
    const hi = Math.max(...present);
    return `${s.label}: latest ${props.format(latest(s.values))}, range ${props.format(lo)} to ${props.format(hi)}`;
  });
  return `${props.title} over the last ${minutes} minutes. ${parts.join('; ')}.`;
}

function dataOf(props: TimeChartProps): uPlot.AlignedData {
  return [props.x, ...props.series.map((s) => s.values)];
}

function optionsOf(props: TimeChartProps, width: number): uPlot.Options {
  const fmt = (v: number | null | undefined): string => props.format(v);
  const range = props.yRange;
  return {
    width,
    height: props.height ?? 180,
    ms: 1,
    // Labels only: values under a moving cursor mean little without a pointer, the summary says them.
    legend: { live: false },
    cursor: { drag: { x: false, y: false } },
    scales: {
      x: { time: true },
      y:
        range !== undefined
          ? { range: () => range }
          : { range: (_u, _min, max) => [0, max > 0 ? max * 1.1 : 1] },
    },
    axes: [
      { stroke: '#525a63', grid: { stroke: '#eceff2' } },
      {
        stroke: '#525a63',
        grid: { stroke: '#eceff2' },
        size: 64,
        values: (_u, splits) => splits.map((v) => fmt(v)),
      },
    ],
    series: [
      {},
      ...props.series.map((s, i) => ({
        label: s.label,
        stroke: COLOURS[i % COLOURS.length],
        dash: DASHES[i % DASHES.length],
        width: 2,
        value: (_u: uPlot, v: number | null) => fmt(v),
        points: { show: false },
      })),
    ],
  };
}

export function TimeChart(props: TimeChartProps) {
  const box = useRef<HTMLDivElement>(null);
  const plot = useRef<uPlot | null>(null);
  // The chart is rebuilt when the set of series changes; new values only update its data.
  const shape = props.series.map((s) => s.label).join('\n');
  const latestProps = useRef(props);
  latestProps.current = props;

  useEffect(() => {
    const el = box.current;
    if (el === null) return;
    const u = new uPlot(
      optionsOf(latestProps.current, el.clientWidth || 400),
      dataOf(latestProps.current),
      el,
    );
    plot.current = u;
    const resize = new ResizeObserver(() => {
      const width = el.clientWidth;
      if (width > 0 && width !== u.width) u.setSize({ width, height: latestProps.current.height ?? 180 });
    });
    resize.observe(el);
    return () => {
      resize.disconnect();
      u.destroy();
      plot.current = null;
    };
  }, [shape, props.height, props.yRange?.[0], props.yRange?.[1]]);

  useEffect(() => {
    plot.current?.setData(dataOf(props));
  }, [props.x, props.series]);

  return (
    <figure class="time-chart">
      <figcaption>{props.title}</figcaption>
      <div ref={box} role="img" aria-label={chartSummary(props)} />
    </figure>
  );
}

/**
 * NRAG export:
 * - GraphML as networkx.write_graphml writes it (keys declared per attribute with attr.type; node/edge data
 *   elements; graph attributes on the <graph>), readable by networkx.read_graphml, Gephi and Cytoscape.
 *   Lists (per-class edge counts) are written as one int attribute per class: `count_<classIndex>`.
 * - JSON in networkx's node-link format (`networkx.node_link_graph(data, edges="links")`, also what d3 reads):
 *   {directed, multigraph, graph: {...}, nodes: [{id, ...}], links: [{source, target, ...}]}.
 */
import { escapeXml } from '../plot/svg.ts';
import type { Nrag, NragEdge, NragNode } from './nrag.ts';

type AttrType = 'int' | 'double' | 'boolean' | 'string';

function typeOf(v: unknown): AttrType | null {
  if (typeof v === 'boolean') return 'boolean';
  if (typeof v === 'number') return Number.isInteger(v) ? 'int' : 'double';
  if (typeof v === 'string') return 'string';
  return null;
}

/** Flattens a node or edge to scalar attributes (counts → count_<k>); ids/endpoints excluded. */
function scalarAttrs(o: NragNode | NragEdge): Record<string, number | string | boolean> {
  const out: Record<string, number | string | boolean> = {};
  for (const [k, v] of Object.entries(o)) {
    if (k === 'id' || k === 'source' || k === 'target' || v === undefined) continue;
    if (Array.isArray(v)) v.forEach((c, i) => (out[`${k === 'counts' ? 'count' : k}_${i}`] = c as number));
    else out[k] = v as number | string | boolean;
  }
  return out;
}

function graphAttrs(g: Nrag): Record<string, number | string> {
  const a: Record<string, number | string> = { mode: g.mode, layers: g.nLayers, layer_indices: g.layers.join(','), categories: g.categories.join(',') };
  if (g.gridsize !== undefined) a.gridsize = g.gridsize;
  if (g.nComponents !== undefined) a.n_components = g.nComponents;
  if (g.orientation !== undefined) a.spearman_orientation = g.orientation === 'upstream' ? 'upstream: edge i→j carries rho(layer l comp j, layer l+1 comp i)' : 'edge i→j carries rho(layer l comp i, layer l+1 comp j)';
  a.class_names = JSON.stringify(g.classNames);
  return a;
}

export function nragToGraphml(g: Nrag): string {
  const nodeAttrs = g.nodes.map(scalarAttrs);
  const edgeAttrs = g.edges.map(scalarAttrs);
  // One key per (domain, name); a name seen as both int and double is declared double (weights, rho).
  const keys = new Map<string, { domain: 'node' | 'edge' | 'graph'; name: string; type: AttrType; id: string }>();
  const declare = (domain: 'node' | 'edge' | 'graph', attrs: Record<string, number | string | boolean>): void => {
    for (const [name, v] of Object.entries(attrs)) {
      const t = typeOf(v)!;
      const k = `${domain}:${name}`;
      const prev = keys.get(k);
      if (!prev) keys.set(k, { domain, name, type: t, id: `d${keys.size}` });
      else if (prev.type !== t) prev.type = prev.type === 'int' && t === 'double' ? 'double' : prev.type === 'double' && t === 'int' ? 'double' : 'string';
    }
  };
  const gAttrs = graphAttrs(g);
  declare('graph', gAttrs);
  nodeAttrs.forEach((a) => declare('node', a));
  edgeAttrs.forEach((a) => declare('edge', a));
  // networkx writes weights as double whatever their values; keep `weight` double so tools read floats.
  const w = keys.get('edge:weight');
  if (w) w.type = 'double';
  const fmt = (v: number | string | boolean, t: AttrType): string =>
    t === 'boolean' ? String(v) : t === 'double' && typeof v === 'number' ? (Number.isInteger(v) ? v.toFixed(1) : String(v)) : String(v);
  const data = (domain: 'node' | 'edge' | 'graph', attrs: Record<string, number | string | boolean>, indent: string): string =>
    Object.entries(attrs)
      .map(([name, v]) => {
        const k = keys.get(`${domain}:${name}`)!;
        return `${indent}<data key="${k.id}">${escapeXml(fmt(v, k.type))}</data>\n`;
      })
      .join('');
  let out = '<?xml version=\'1.0\' encoding=\'utf-8\'?>\n';
  out += '<graphml xmlns="http://graphml.graphdrawing.org/xmlns" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xsi:schemaLocation="http://graphml.graphdrawing.org/xmlns http://graphml.graphdrawing.org/xmlns/1.0/graphml.xsd">\n';
  for (const k of keys.values()) out += `  <key id="${k.id}" for="${k.domain}" attr.name="${escapeXml(k.name)}" attr.type="${k.type}" />\n`;
  out += `  <graph edgedefault="${g.directed ? 'directed' : 'undirected'}">\n`;
  out += data('graph', gAttrs, '    ');
  g.nodes.forEach((v, i) => {
    out += `    <node id="${escapeXml(v.id)}">\n${data('node', nodeAttrs[i]!, '      ')}    </node>\n`;
  });
  g.edges.forEach((e, i) => {
    out += `    <edge source="${escapeXml(e.source)}" target="${escapeXml(e.target)}">\n${data('edge', edgeAttrs[i]!, '      ')}    </edge>\n`;
  });
  out += '  </graph>\n</graphml>\n';
  return out;
}

/** networkx node-link JSON (see module comment). */
export function nragToJson(g: Nrag): object {
  return {
    directed: g.directed,
    multigraph: false,
    graph: { ...graphAttrs(g), class_names: g.classNames, layer_indices: g.layers, categories: g.categories },
    nodes: g.nodes.map((v) => ({ ...v })),
    links: g.edges.map((e) => ({ ...e })),
  };
}

/** Latent Atlas plotting: static SVG/PNG figures and self-contained interactive HTML. */
export { scatterSvg, ellipsePoints, type ScatterOptions, type Ellipse } from './scatter.ts';
export { lineSvg, type LineOptions, type LineSeries } from './line.ts';
export { barSvg, type BarOptions, type BarSeries } from './bar.ts';
export { heatmapSvg, type HeatmapOptions } from './heatmap.ts';
export { graphSvg, type GraphOptions, type GraphNode, type GraphEdge } from './graph.ts';
export { facetSvg, type FacetOptions } from './facet.ts';
export { svgToPng, savePlot, fontStatus, type PngOptions, type SavedPlot, type FontStatus } from './png.ts';
export { htmlPage, lineHtml, heatmapHtml, jsonForScript, jsonScriptTag, escapeHtml, type HtmlPageOptions, type HtmlSection } from './html.ts';
export { scatterHtml, scatterHtmlFragment, scatterPayload, type ScatterHtmlOptions, type ScatterPoint } from './scatter-html.ts';
export { colormapHex, colormapRgb, COLORMAP_NAMES, type ColormapName } from './colormap.ts';
export { categoricalColors, OKABE_ITO, TABLEAU_10, TABLEAU_20 } from './palette.ts';
export { linearScale, niceTicks, niceDomain, formatTicks, type LinearScale } from './scale.ts';
export { escapeXml } from './svg.ts';

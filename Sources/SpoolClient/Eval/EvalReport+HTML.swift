import Foundation
import SpoolCore

extension EvalReport {
    /// `report.html`: one self-contained page (styles inline, plots as SVG, posters as data
    /// URIs, no script), to open from disk or mail to someone.
    public func html() -> String {
        var page = """
            <!DOCTYPE html>
            <html lang="en"><head><meta charset="utf-8">
            <meta name="viewport" content="width=device-width, initial-scale=1">
            <title>Spool eval: \(Self.escape(pipelines.joined(separator: ", ")))</title>
            <style>
            body{font:14px/1.45 system-ui,-apple-system,Segoe UI,sans-serif;margin:24px;color:#1d2330;background:#fbfbfd}
            h1{font-size:22px;margin:0 0 4px}h2{font-size:17px;margin:28px 0 8px}h3{font-size:15px;margin:18px 0 6px}
            .meta{color:#5b6475;margin-bottom:16px}
            table{border-collapse:collapse;margin:6px 0 14px;background:#fff}
            th,td{border:1px solid #dde1ea;padding:4px 8px;text-align:right;vertical-align:top}
            th:first-child,td:first-child{text-align:left}
            th{background:#f0f2f7;font-weight:600}
            .flag{display:inline-block;background:#fde2e1;color:#8f1d18;border-radius:3px;padding:0 5px;margin-right:4px;font-size:12px}
            .ok{color:#2f6b2f}
            .plots{display:flex;flex-wrap:wrap;gap:16px}
            .plot{background:#fff;border:1px solid #dde1ea}
            .strip td{text-align:center}.strip td:first-child{text-align:left;max-width:280px}
            .strip img{display:block;max-width:200px;height:auto;margin:auto}
            .tags{color:#5b6475;font-size:12px}
            .failed{color:#8f1d18;font-size:12px;max-width:200px}
            </style></head><body>
            <h1>Spool eval</h1>
            <div class="meta">\(prompts.count) prompts × \(pipelines.count) pipelines × \(seeds.count) seed\(seeds.count == 1 ? "" : "s") = \(results.count) jobs on \(Self.escape(server)), \(Self.escape(ISO8601DateFormatter().string(from: generatedAt)))</div>

            """
        page += comparisonTable()
        page += plots()
        for summary in summaries { page += pipelineSection(summary) }
        page += posterStrips()
        page += "</body></html>\n"
        return page
    }

    private func comparisonTable() -> String {
        var html = """
            <h2 id="compare">Pipelines compared</h2>
            <table><tr><th>pipeline</th><th>videos</th><th>failed</th><th>GPU-s per video-s</th><th>latency p50</th><th>latency p95</th>\
            <th>cold starts</th><th>worst seam</th><th>mean seam</th><th>flicker</th><th>frozen</th><th>drift (levels)</th><th>flags</th></tr>

            """
        for s in summaries {
            html += "<tr><td>\(Self.escape(s.pipeline))</td><td>\(s.succeeded)/\(s.jobs)</td><td>\(s.failed)</td>"
            html += "<td>\(Self.number(s.gpuSecondsPerVideoSecond, 2))</td><td>\(Self.seconds(s.latencyP50))</td><td>\(Self.seconds(s.latencyP95))</td>"
            html += "<td>\(s.coldStarts)</td><td>\(Self.number(s.seamWorst, 2))</td><td>\(Self.number(s.seamMean, 2))</td>"
            html += "<td>\(Self.number(s.flicker, 2))</td><td>\(Self.percent(s.frozenShare))</td>"
            html += "<td>\(Self.number(s.driftBrightness, 1)) / \(Self.number(s.driftColour, 1))</td><td>\(flags(s))</td></tr>\n"
        }
        return html + "</table>\n"
    }

    private func flags(_ summary: EvalSummary) -> String {
        summary.flags.isEmpty ? "<span class=\"ok\">none</span>"
            : summary.flags.map { "<span class=\"flag\" data-flag=\"\($0)\">\(Self.escape(Self.flagText[$0] ?? $0))</span>" }.joined()
    }

    static let flagText = [
        "seams": "visible seams (worst ≥ \(EvalSummary.visibleSeam)×)",
        "freezes": "freezes (> \(Int(EvalSummary.frozenShareLimit * 100)) % of frames)",
        "drift": "drift (> \(Int(EvalSummary.driftLimit)) levels)",
        "failures": "failed jobs",
    ]

    private func pipelineSection(_ s: EvalSummary) -> String {
        var html = "<h2 id=\"pipeline-\(Self.escape(s.pipeline))\">\(Self.escape(s.pipeline))</h2>\n<table>\n"
        let rows: [(String, String)] = [
            ("videos made", "\(s.succeeded) of \(s.jobs)"),
            ("GPU-seconds per video-second", Self.number(s.gpuSecondsPerVideoSecond, 3)),
            ("latency p50 / p95", "\(Self.seconds(s.latencyP50)) / \(Self.seconds(s.latencyP95))"),
            ("cold starts", "\(s.coldStarts)"),
            ("worst seam (mean over videos)", Self.number(s.seamWorst, 2)),
            ("mean seam", Self.number(s.seamMean, 2)),
            ("flicker, levels", Self.number(s.flicker, 2)),
            ("frozen frames", Self.percent(s.frozenShare)),
            ("drift: brightness / colour, levels", "\(Self.number(s.driftBrightness, 1)) / \(Self.number(s.driftColour, 1))"),
        ]
        for (name, value) in rows { html += "<tr><th>\(Self.escape(name))</th><td>\(value)</td></tr>\n" }
        html += "<tr><th>flags</th><td>\(flags(s))</td></tr>\n</table>\n"
        let failed = results.filter { $0.pipeline == s.pipeline && $0.state != .succeeded }
        if !failed.isEmpty {
            html += "<h3>Not made</h3><table><tr><th>prompt</th><th>seed</th><th>job</th><th>state</th><th>why</th></tr>\n"
            for r in failed {
                html += "<tr><td>\(Self.escape(r.promptID))</td><td>\(r.seed)</td><td>\(Self.escape(r.jobID))</td><td>\(r.state.rawValue)</td>"
                html += "<td class=\"failed\">\(Self.escape(r.error ?? ""))</td></tr>\n"
            }
            html += "</table>\n"
        }
        return html
    }

    // MARK: Plots

    static let colours = ["#3366cc", "#dc3912", "#109618", "#ff9900", "#990099", "#0099c6", "#dd4477", "#66aa00"]

    private func plots() -> String {
        let measures: [(title: String, value: (EvalResult) -> Double?)] = [
            ("worst seam (1.0: none)", { $0.quality?.seamWorst }),
            ("flicker, levels", { $0.quality?.flicker }),
            ("frozen frames, share", { $0.frozenShare }),
        ]
        var html = "<h2 id=\"plots\">Cost against quality</h2>\n<div class=\"plots\">\n"
        for measure in measures { html += plot(title: measure.title, value: measure.value) }
        html += "</div>\n<div>"
        for (index, pipeline) in pipelines.enumerated() {
            html += "<span style=\"color:\(Self.colours[index % Self.colours.count])\">●</span> \(Self.escape(pipeline)) &nbsp; "
        }
        return html + "(small dots: videos; large: each pipeline's mean; x: GPU-seconds per video-second)</div>\n"
    }

    private func plot(title: String, value: (EvalResult) -> Double?) -> String {
        let width = 360.0, height = 260.0, left = 52.0, right = 14.0, top = 28.0, bottom = 40.0
        var points: [(x: Double, y: Double, pipeline: Int)] = []
        for r in results where r.state == .succeeded {
            guard let x = r.gpuSecondsPerVideoSecond, let y = value(r), let index = pipelines.firstIndex(of: r.pipeline) else { continue }
            points.append((x, y, index))
        }
        var svg = "<svg class=\"plot\" width=\"\(Int(width))\" height=\"\(Int(height))\" role=\"img\" aria-label=\"\(Self.escape(title))\">"
        svg += "<text x=\"\(Int(width / 2))\" y=\"18\" text-anchor=\"middle\" font-size=\"13\" font-weight=\"600\">\(Self.escape(title))</text>"
        guard !points.isEmpty else {
            return svg + "<text x=\"\(Int(width / 2))\" y=\"\(Int(height / 2))\" text-anchor=\"middle\" fill=\"#5b6475\">no videos measured</text></svg>\n"
        }
        let (x0, x1) = Self.range(points.map(\.x)), (y0, y1) = Self.range(points.map(\.y))
        func px(_ x: Double) -> Double { left + (x - x0) / (x1 - x0) * (width - left - right) }
        func py(_ y: Double) -> Double { height - bottom - (y - y0) / (y1 - y0) * (height - top - bottom) }
        svg += "<line x1=\"\(left)\" y1=\"\(height - bottom)\" x2=\"\(width - right)\" y2=\"\(height - bottom)\" stroke=\"#8a93a6\"/>"
        svg += "<line x1=\"\(left)\" y1=\"\(top)\" x2=\"\(left)\" y2=\"\(height - bottom)\" stroke=\"#8a93a6\"/>"
        for (value, anchor) in [(x0, "start"), (x1, "end")] {
            svg += "<text x=\"\(Self.fixed(px(value)))\" y=\"\(Int(height - bottom + 16))\" text-anchor=\"\(anchor)\" font-size=\"11\">\(Self.number(value, 2))</text>"
        }
        for value in [y0, y1] {
            svg += "<text x=\"\(Int(left - 6))\" y=\"\(Self.fixed(py(value) + 4))\" text-anchor=\"end\" font-size=\"11\">\(Self.number(value, 2))</text>"
        }
        svg += "<text x=\"\(Int((left + width - right) / 2))\" y=\"\(Int(height - 8))\" text-anchor=\"middle\" font-size=\"11\">GPU-seconds per video-second</text>"
        for point in points {
            let colour = Self.colours[point.pipeline % Self.colours.count]
            svg += "<circle cx=\"\(Self.fixed(px(point.x)))\" cy=\"\(Self.fixed(py(point.y)))\" r=\"3\" fill=\"\(colour)\" fill-opacity=\"0.45\"/>"
        }
        for (index, pipeline) in pipelines.enumerated() {
            let mine = points.filter { $0.pipeline == index }
            guard !mine.isEmpty else { continue }
            let mx = mine.map(\.x).reduce(0, +) / Double(mine.count), my = mine.map(\.y).reduce(0, +) / Double(mine.count)
            let colour = Self.colours[index % Self.colours.count]
            svg += "<circle cx=\"\(Self.fixed(px(mx)))\" cy=\"\(Self.fixed(py(my)))\" r=\"7\" fill=\"\(colour)\" stroke=\"#fff\" stroke-width=\"2\"><title>\(Self.escape(pipeline))</title></circle>"
            svg += "<text x=\"\(Self.fixed(px(mx) + 9))\" y=\"\(Self.fixed(py(my) - 8))\" font-size=\"11\" fill=\"\(colour)\">\(Self.escape(pipeline))</text>"
        }
        return svg + "</svg>\n"
    }

    /// A range around `values` with a margin, never empty, and never below 0 for measures that
    /// cannot be (costs, shares, seams).
    static func range(_ values: [Double]) -> (Double, Double) {
        let low = values.min() ?? 0, high = values.max() ?? 1
        let pad = max((high - low) * 0.1, abs(high) * 0.05, 0.01)
        return (low >= 0 ? max(0, low - pad) : low - pad, high + pad)
    }

    // MARK: Posters

    private func posterStrips() -> String {
        var html = "<h2 id=\"posters\">Posters, prompt by prompt</h2>\n<table class=\"strip\"><tr><th>prompt</th>"
        for pipeline in pipelines { html += "<th>\(Self.escape(pipeline))</th>" }
        html += "</tr>\n"
        for prompt in prompts {
            for seed in seeds {
                html += "<tr><td><b>\(Self.escape(prompt.id))</b>\(seeds.count > 1 ? " (seed \(seed))" : "")<br>\(Self.escape(prompt.prompt))"
                if !prompt.tags.isEmpty { html += "<div class=\"tags\">\(Self.escape(prompt.tags.joined(separator: ", ")))</div>" }
                html += "</td>"
                for pipeline in pipelines {
                    guard let result = results.first(where: { $0.promptID == prompt.id && $0.seed == seed && $0.pipeline == pipeline }) else {
                        html += "<td></td>"
                        continue
                    }
                    if let poster = posters[result.jobID] {
                        let seam = result.quality?.seamWorst.map { "seam \(Self.number($0, 2))" } ?? ""
                        html += "<td><img alt=\"\(Self.escape(pipeline)): \(Self.escape(prompt.id))\" src=\"data:image/png;base64,\(poster.base64EncodedString())\">"
                        html += "<span class=\"tags\">\(Self.escape(seam))</span></td>"
                    } else {
                        html += "<td class=\"failed\">\(result.state.rawValue)\(result.error.map { ": " + Self.escape($0) } ?? "")</td>"
                    }
                }
                html += "</tr>\n"
            }
        }
        return html + "</table>\n"
    }

    // MARK: Text

    static func escape(_ text: String) -> String {
        var out = ""
        out.reserveCapacity(text.count)
        for character in text {
            switch character {
            case "&": out += "&amp;"
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            case "\"": out += "&quot;"
            case "'": out += "&#39;"
            default: out.append(character)
            }
        }
        return out
    }

    static func number(_ value: Double?, _ digits: Int) -> String {
        value.map { String(format: "%.\(digits)f", $0) } ?? "–"
    }

    static func seconds(_ value: Double?) -> String { value.map { String(format: "%.1f s", $0) } ?? "–" }

    static func percent(_ value: Double?) -> String { value.map { String(format: "%.1f %%", $0 * 100) } ?? "–" }

    static func fixed(_ value: Double) -> String { String(format: "%.1f", value) }
}

package main

import (
	"fmt"
	"image/color"
	"io"
	"path/filepath"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
)

// colors and dashes tell the series apart: a color per server, a dash per
// scenario.
var (
	serverColors = map[string]color.Color{
		"tether": color.RGBA{R: 0x1f, G: 0x77, B: 0xb4, A: 0xff},
		"node":   color.RGBA{R: 0xd6, G: 0x27, B: 0x28, A: 0xff},
	}
	scenarioDashes = map[string][]vg.Length{
		"idle":   nil,
		"active": {vg.Points(5), vg.Points(3)},
	}
)

// drawPlots draws growth-rss.png (server RSS) and growth-cpu.png (server CPU)
// against the clients connected, a line per server and scenario; a point
// whose run failed is crossed out.
func drawPlots(r io.Reader, dir string) error {
	ps, err := readPoints(r)
	if err != nil {
		return err
	}
	if len(ps) == 0 {
		return fmt.Errorf("no points to plot")
	}
	keys, by := series(ps)
	charts := []struct {
		file, title, y string
		value          func(Point) float64
	}{
		{"growth-rss.png", "Server RSS (end of the measured time)", "MiB", func(p Point) float64 { return float64(p.RSSEnd) / (1 << 20) }},
		{"growth-cpu.png", "Server CPU over the measured time", "% of one core", func(p Point) float64 { return p.CPUPercent }},
	}
	for _, c := range charts {
		pl := plot.New()
		pl.Title.Text = c.title
		pl.X.Label.Text = "Socket.IO clients connected (WebSocket)"
		pl.Y.Label.Text = c.y
		pl.X.Min, pl.Y.Min = 0, 0
		pl.Add(plotter.NewGrid())
		pl.Legend.Top, pl.Legend.Left = true, true
		failedInLegend := false
		for _, k := range keys {
			s := by[k]
			xys := make(plotter.XYs, len(s))
			for i, p := range s {
				xys[i].X, xys[i].Y = float64(p.Connected), c.value(p)
			}
			line, points, err := plotter.NewLinePoints(xys)
			if err != nil {
				return fmt.Errorf("failed to draw %s: %w", k, err)
			}
			col := serverColors[s[0].Server]
			line.Color, points.Color = col, col
			line.Dashes = scenarioDashes[s[0].Scenario]
			line.Width = vg.Points(1.5)
			points.Shape = draw.CircleGlyph{}
			pl.Add(line, points)
			pl.Legend.Add(fmt.Sprintf("%s, %s", serverName(s[0].Server), s[0].Scenario), line, points)
			if bad := failedXYs(s, c.value); len(bad) > 0 {
				// A failed point (clients that did not connect, messages
				// lost) is drawn as it was measured, marked with a cross,
				// so that the curve does not read as a clean measurement.
				marks, err := plotter.NewScatter(bad)
				if err != nil {
					return fmt.Errorf("failed to draw the failed points of %s: %w", k, err)
				}
				marks.Shape = draw.CrossGlyph{}
				marks.Color, marks.Radius = col, vg.Points(6)
				pl.Add(marks)
				if !failedInLegend {
					pl.Legend.Add("failed point (see the table)", marks)
					failedInLegend = true
				}
			}
		}
		path := filepath.Join(dir, c.file)
		if err := pl.Save(6*vg.Inch, 3.6*vg.Inch, path); err != nil {
			return fmt.Errorf("failed to save %s: %w", path, err)
		}
		fmt.Println(path)
	}
	return nil
}

// failedXYs returns the points of a series whose run failed (ok false), at
// the coordinates the chart draws them.
func failedXYs(s []Point, value func(Point) float64) plotter.XYs {
	var xys plotter.XYs
	for _, p := range s {
		if !p.OK {
			xys = append(xys, plotter.XY{X: float64(p.Connected), Y: value(p)})
		}
	}
	return xys
}

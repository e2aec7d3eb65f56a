// Pareto fronts and the two pictures of a sweep (docs/dse.md): pareto.svg (time against energy,
// and time against the area proxy, one colour per model, each model's front drawn as a line)
// and roofline.svg (points placed by arithmetic intensity and achieved throughput under the
// compute and bandwidth roofs of their configurations). Plain SVG 1.1 with no scripts or
// external resources: any browser opens it, and hovering a point shows its <title>.
#pragma once

#include <span>
#include <string>
#include <vector>

namespace kpu::dse {

// Which of `points` are Pareto-optimal when both coordinates are minimised: no other point is
// <= in both and < in one. Points with a NaN coordinate are never optimal and never dominate.
// Equal points are all optimal. O(n log n).
std::vector<bool> paretoFront(std::span<const double> x, std::span<const double> y);

// One sweep point as the plots see it.
struct PlotPoint {
    std::string model; // the series (colour and legend entry)
    std::string label; // shown on hover, e.g. "mobilenet_v2 on a32x32-l2_1MiB"
    double timeSeconds = 0;
    double energyJoules = 0;
    double areaMm2 = 0;            // <= 0: no area proxy (the time-area panel is left out)
    double intensity = 0;          // flops per external byte; <= 0: not on the roofline
    double achievedGflops = 0;     // flops / time
    double peakGflops = 0;         // compute roof of the point's configuration
    double peakGBps = 0;           // external bandwidth roof of the point's configuration
    bool paretoTimeEnergy = false; // on its model's time-energy front
    bool paretoTimeArea = false;   // on its model's time-area front
};

// pareto.svg: a panel of time (x) against energy (y), and, when every point has an area, a
// second panel of time against area; log scales when a coordinate spans more than a factor 10.
// Pareto points are filled and joined per model, the others hollow.
std::string paretoSvg(std::span<const PlotPoint> points, const std::string& title);

// roofline.svg: log-log, x = arithmetic intensity (flops/byte), y = GFLOP/s; each distinct
// (peakGflops, peakGBps) pair draws its roof min(peak, intensity x bandwidth) as a thin line,
// points coloured by model.
std::string rooflineSvg(std::span<const PlotPoint> points, const std::string& title);

} // namespace kpu::dse

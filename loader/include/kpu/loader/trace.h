// The timeline of a simulated run as a Chrome Trace Event file (kpu-loader --trace), for
// Perfetto (ui.perfetto.dev) and chrome://tracing. docs/trace.md describes the tracks, the
// events and their arguments.
#pragma once

#include <string>

#include "kpu/common/hw_config.h"
#include "kpu/loader/loader.h"
#include "kpu/simulator/schedule.h"
#include "kpu/simulator/stats.h"

namespace kpu::loader {

// The trace as JSON text: one track (thread) per engine of `stats.engines`, one complete event
// per bound op that ran on an engine, times in microseconds of simulated time at the config's
// clock. Needs `stats.timeline` (RunOptions::recordTimeline). Deterministic: the same run
// always gives the same bytes.
std::string chromeTrace(const LoadedObject& object, const KpuConfig& config,
                        const sim::Schedule& schedule, const sim::RunStats& stats);

} // namespace kpu::loader

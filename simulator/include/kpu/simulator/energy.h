// The energy model (docs/energy.md): what a bound schedule costs in picojoules, op by op, and
// the area proxy of a configuration. Dynamic energy is a property of the schedule alone (which
// moves, which passes), so a timing-only run reports the same energy as a full one; static
// energy is static power x the run's time.
#pragma once

#include <array>
#include <cstdint>

#include "kpu/common/dtype.h"
#include "kpu/common/hw_config.h"
#include "kpu/simulator/schedule.h"

namespace kpu::sim {

// The figures of a configuration's EnergyConfig, with the derived ones filled in.
struct EnergyModel {
    std::array<double, kDTypeCount> macPj{}; // by the A operand's element type
    double vectorOpPj = 0, movePj = 0;
    std::array<double, kLevelCount> readPjPerByte{}, writePjPerByte{}; // by Level
    double staticPowerW = 0;
};

// The access energy of an SRAM of `capacity` bytes, per byte: 2.5 pJ x sqrt(capacity / 32 KiB),
// fitted to Horowitz's 64-bit reads (10 pJ at 8 KB, 20 pJ at 32 KB, 100 pJ at 1 MB).
double sramPjPerByte(std::uint64_t capacity);

// The area proxy in mm^2: the processing elements of every array and every byte of L3, L2 and L1.
double areaMm2(const KpuConfig& config);

EnergyModel energyModel(const KpuConfig& config);

// Energy in picojoules, by where it goes.
struct Energy {
    double compute = 0;                       // array MACs and vector passes' element operations
    std::array<double, kLevelCount> memory{}; // reads and writes at each level, by Level
    double moves = 0;                         // the per-move overhead
    double staticPj = 0;                      // static power x time

    double dynamic() const;
    double total() const { return dynamic() + staticPj; }
    Energy& operator+=(const Energy& other);
};

// The dynamic energy of one bound op: a move reads its bytes at the source level and writes them
// at the destination, plus the per-move overhead; an array pass does m x n x k MACs, reads its
// operands from L1 and writes its result there; a vector pass does one operation per output
// element, reads its input blocks and writes its output block in L1. Barriers cost nothing.
Energy opEnergy(const Schedule& schedule, const BoundOp& op, const EnergyModel& model);

// The whole run: every op's dynamic energy, and static power over `cycles` of the clock.
Energy runEnergy(const Schedule& schedule, const KpuConfig& config, std::uint64_t cycles);

} // namespace kpu::sim

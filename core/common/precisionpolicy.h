#pragma once

// Which precision the model runs in, as the user chooses it: a precision by name, or `auto`, which
// picks bfloat16 where the CPU executes it natively and float32 elsewhere. Light (no torch): the
// CLI, the app's settings and the indexer use it. Lives in core/common so that the UI can offer the
// choice without including any core/model header.
//
//   auto choice = resolvePrecision(PrecisionSetting::Auto); // detects the CPU once
//   options.precision = choice.precision;                   // ModelLoadOptions / pipeline
//   print(choice.reason);                                   // "bf16 (auto: this CPU ...)"
//
// Embeddings of one model in different precisions stay comparable (cosine >= 0.999 to float32 on
// the fixtures), so the library keys vectors by model only, never by precision.

#include "core/common/precision.h"

#include <QString>
#include <QStringView>

#include <optional>

namespace ts {

// What the user chose (`--precision`, the app's settings).
enum class PrecisionSetting { Auto, Float32, BFloat16, Int8 };

// Short names: "f32", "bf16", "int8" (the command line, the settings file, benchmark output).
QString precisionName(Precision precision);
// "auto" or a precision's short name.
QString precisionSettingName(PrecisionSetting setting);
// Accepts the short names and "auto" (also "float32", "bfloat16"; case-insensitive); nullopt
// for anything else.
std::optional<PrecisionSetting> parsePrecisionSetting(QStringView text);

// The CPU's narrow-precision instructions that decide whether bfloat16 pays off.
struct CpuFeatures {
    bool avx512bf16 =
        false;            // AVX512-BF16 (CPUID 7.1:EAX bit 5), with AVX-512 state enabled by the OS
    bool amxbf16 = false; // AMX-BF16 (CPUID 7.0:EDX bit 22), with tile state enabled by the OS
    bool nativeBFloat16() const { return avx512bf16 || amxbf16; }
    // The CPU this process runs on (cpuid; cached after the first call; thread-safe).
    static CpuFeatures detect();
};

struct PrecisionChoice {
    Precision precision = Precision::Float32;
    QString reason; // one line for `inspect`, `status` and the app, e.g. "auto: bfloat16, ..."
};

// Resolves a setting: a precision asked for by name is taken as it is (int8 then fails at load
// while it is not implemented); Auto becomes bfloat16 when `cpu` executes it natively, else
// float32.
PrecisionChoice resolvePrecision(PrecisionSetting setting,
                                 const CpuFeatures &cpu = CpuFeatures::detect());

} // namespace ts

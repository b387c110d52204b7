#pragma once

#include "core/search/bridgetowerpipeline.h"

#include <QCommandLineOption>
#include <QCommandLineParser>

#include <memory>

namespace ts::cli {

// The options every model-using command shares: --model DIR, --threads N, --json, --bf16.
struct ModelOptions {
    QCommandLineOption model{QStringLiteral("model"),
                             QStringLiteral("Checkpoint folder (config.json, weights, vocab.json, merges.txt, "
                                            "preprocessor_config.json). Default: $TOWERSEARCH_MODEL, else the default model in the Hugging Face cache."),
                             QStringLiteral("DIR")};
    QCommandLineOption threads{QStringLiteral("threads"), QStringLiteral("LibTorch threads (default: all cores)."),
                               QStringLiteral("N")};
    QCommandLineOption json{QStringLiteral("json"), QStringLiteral("Print JSON (schema in the README) instead of text.")};
    QCommandLineOption bf16{QStringLiteral("bf16"), QStringLiteral("Run matrix products in bfloat16 (faster, approximate).")};

    void addTo(QCommandLineParser &parser) const { parser.addOptions({model, threads, json, bf16}); }

    // Applies --threads and loads the pipeline. On failure prints the error and sets `exitCode`.
    std::shared_ptr<BridgeTowerPipeline> load(const QCommandLineParser &parser, const QString &command,
                                              unsigned requiredHeads, int &exitCode) const;
};

} // namespace ts::cli

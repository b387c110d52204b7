// Fuzz target: a checkpoint's JSON configs: config.json (core/model/bridgetowerconfig: parse,
// validate, describe) and preprocessor_config.json (core/image/imageprocessorconfig). Both read the
// same input, as a file, through the same JSON file reader the app uses.

#include "core/image/imageprocessorconfig.h"
#include "core/model/bridgetowerconfig.h"
#include "fuzzinput.h"

#include <cstdlib>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    const ts::fuzz::MemoryFile file(data, size);
    if (const auto config = ts::BridgeTowerConfig::load(file.path())) {
        if (config->validate().ok()) {
            (void)config->describe();
            (void)config->contrastiveHeadSupport();
            (void)config->vision.numTokens();
            (void)config->splitIndex();
        }
    } else if (config.error().message.isEmpty()) {
        std::abort();
    }
    if (const auto processor = ts::ImageProcessorConfig::load(file.path())) {
        if (processor->shortestEdge <= 0 || processor->sizeDivisor <= 0 ||
            processor->cropWidth <= 0 || processor->cropHeight <= 0)
            std::abort(); // load() promises validated, positive sizes
    } else if (processor.error().message.isEmpty()) {
        std::abort();
    }
    return 0;
}

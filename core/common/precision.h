#pragma once

namespace ts {

// How the model stores its weights and runs its matrix products.
enum class Precision {
    Float32,  // reference precision (parity with Hugging Face to 1e-4)
    BFloat16, // matrix products in bfloat16 via CPU autocast (faster where the CPU supports it)
    Int8,     // Linear weights int8 per output channel, activations quantized dynamically (opt-in)
};

} // namespace ts

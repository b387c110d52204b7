#pragma once

// Moved to core/common (the UI's settings use it without depending on the model's headers); kept
// so existing includes still work.
#include "core/common/precisionpolicy.h"

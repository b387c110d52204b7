#pragma once

// Moved to core/common (a light value type the UI uses without depending on the model's headers);
// kept so existing includes still work.
#include "core/common/precision.h"

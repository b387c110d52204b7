#include "jsonoutput.h"

#include "clicommand.h"

namespace ts::cli {

void printJson(const nlohmann::json &j) {
    // Invalid UTF-8 cannot occur (QString -> UTF-8), but never throw out of a command.
    out(QString::fromStdString(j.dump(2, ' ', false, nlohmann::json::error_handler_t::replace)) + QLatin1Char('\n'));
}

} // namespace ts::cli

// towersearch-cli: the headless front end over the TowerSearch engine.
#include "clicommand.h"

#include "core/common/nativepath.h"

#include <QCoreApplication>
#include <QLoggingCategory>

#include <memory>

using namespace ts::cli;

static QString usage() {
    QString text = QStringLiteral(
        "Usage: towersearch-cli [--version] [--help] <command> [options]\n\n"
        "Find photos by what is in them, with the BridgeTower vision-language model.\n\n"
        "Commands:\n");
    for (const CliCommand &c : allCommands())
        text += QStringLiteral("  %1%2\n").arg(c.name.leftJustified(14), c.summary);
    text +=
        QStringLiteral("\nRun 'towersearch-cli <command> --help' for a command's options.\n"
                       "Exit codes: 0 ok, 1 failure, 2 usage, 3 model problem, 4 input problem.\n");
    return text;
}

int main(int argc, char **argv) {
    // QCoreApplication, not QGuiApplication: image decoding (QImageReader and its format plugins)
    // works without a platform plugin, so the CLI runs on a headless machine with no display.
    QCoreApplication app(argc, argv);
    // libpng's complaints about harmless colour profiles (common in real photos) are not errors.
    QLoggingCategory::setFilterRules(QStringLiteral("qt.gui.imageio=false"));
    QCoreApplication::setApplicationName(QStringLiteral("towersearch"));
    QCoreApplication::setApplicationVersion(QStringLiteral(TOWERSEARCH_VERSION));

    // Arguments are file names as often as text: keep their exact bytes (a name that is not valid
    // UTF-8 is escaped losslessly, core/common/nativepath.h), where arguments() would lose them.
    QStringList args;
    for (int i = 0; i < argc; ++i)
        args << ts::pathFromNative(QByteArray(argv[i]));
    if (args.size() < 2 || args[1] == QLatin1String("--help") || args[1] == QLatin1String("-h") ||
        args[1] == QLatin1String("help")) {
        out(usage());
        return args.size() < 2 ? kExitUsage : kExitOk;
    }
    if (args[1] == QLatin1String("--version") || args[1] == QLatin1String("-v")) {
        out(QStringLiteral("towersearch-cli %1\n").arg(QCoreApplication::applicationVersion()));
        return kExitOk;
    }
    for (const CliCommand &c : allCommands())
        if (c.name == args[1])
            return c.run(args.mid(1));
    err(QStringLiteral("towersearch-cli: unknown command '%1'\n\n").arg(args[1]) + usage());
    return kExitUsage;
}

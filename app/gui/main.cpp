// towersearch: the desktop app. Parses the command line, opens the Library, and hands both to the
// composition root (App, app/gui/app.h), which builds the main window, wires it to the library and
// loads the model off the GUI thread (or asks for one with the first-run dialog). No singletons.
//
//   towersearch                 open the window
//   towersearch FILE            open it with a photo query for FILE
//   towersearch DIR             add DIR to the library
//   towersearch --screenshot-demo PHOTOS --model M --screenshot-out OUT
//                               a scripted tour (empty library, indexing, results, fill-mask)
//                               saving PNGs into OUT, with a throw-away library; see
//                               resources/screenshots/take-screenshots.sh (screenshotdemo.h)
//   TOWERSEARCH_STARTUP_REPORT=1 towersearch
//                               prints to stderr when, counted from the process's start (dynamic
//                               loading included), the window is usable, the model is loaded and
//                               search is ready (README, Benchmarks; startupreport.h)
#include "app/gui/app.h"
#include "app/gui/memoryreport.h"
#include "app/gui/screenshotdemo.h"
#include "app/gui/startupreport.h"
#include "indexer/library.h"
#include "ui/appsettings.h"

#include <QApplication>
#include <QCommandLineParser>
#include <QFileInfo>
#include <QIcon>
#include <QMessageBox>
#include <QSettings>
#include <QTemporaryDir>
#include <QTimer>

#include <cstdio>
#include <memory>
#include <optional>

using namespace ts;

namespace {

// What the command line asks for.
struct CommandLine {
    QStringList paths;                   // photos to search with, folders to add
    std::optional<QString> model;        // --model DIR
    std::optional<QString> precision;    // --precision auto|f32|bf16|int8
    QString database;                    // --database FILE (empty: the default library)
    std::optional<QString> demoPhotos;   // --screenshot-demo DIR
    QString demoOut;                     // --screenshot-out DIR
    std::optional<QString> memoryReport; // --memory-report TEXT (hidden; a benchmark)
};

std::optional<QString> valueIfSet(const QCommandLineParser &parser,
                                  const QCommandLineOption &option) {
    return parser.isSet(option) ? std::optional<QString>(parser.value(option)) : std::nullopt;
}

// Parses the arguments; --help and --version print and exit here, as do unknown options.
CommandLine parseCommandLine(const QApplication &qapp) {
    QCommandLineParser parser;
    parser.setApplicationDescription(
        QApplication::translate("main", "Find photos by what is in them."));
    parser.addHelpOption();
    parser.addVersionOption();
    parser.addPositionalArgument(
        QStringLiteral("paths"),
        QApplication::translate("main", "A photo to search with, or folders to add."),
        QStringLiteral("[FILE|DIR...]"));
    const QCommandLineOption modelOption(
        QStringLiteral("model"),
        QApplication::translate("main", "Checkpoint folder to use (saved in the settings)."),
        QStringLiteral("DIR"));
    const QCommandLineOption databaseOption(
        QStringLiteral("database"),
        QApplication::translate(
            "main", "Library database: a file or postgresql://USER@HOST/DATABASE (default: "
                    "$TOWERSEARCH_DB, else the setting, else "
                    "~/.local/share/towersearch/library.sqlite, shared with towersearch-cli)."),
        QStringLiteral("FILE|URL"));
    const QCommandLineOption demoOption(
        QStringLiteral("screenshot-demo"),
        QApplication::translate("main",
                                "Scripted tour over the photos in DIR, saving screenshots."),
        QStringLiteral("DIR"));
    const QCommandLineOption outOption(
        QStringLiteral("screenshot-out"),
        QApplication::translate("main", "Where --screenshot-demo saves its PNGs."),
        QStringLiteral("DIR"), QStringLiteral("."));
    const QCommandLineOption precisionOption(
        QStringLiteral("precision"),
        QApplication::translate(
            "main", "Model precision: auto, f32, bf16 or int8 (saved in the settings)."),
        QStringLiteral("auto|f32|bf16|int8"));
    QCommandLineOption memoryOption(
        QStringLiteral("memory-report"),
        QStringLiteral("Search for TEXT, then print the idle memory and quit (benchmark)."),
        QStringLiteral("TEXT"));
    memoryOption.setFlags(QCommandLineOption::HiddenFromHelp);
    parser.addOptions(
        {modelOption, databaseOption, precisionOption, demoOption, outOption, memoryOption});
    parser.process(qapp);
    return CommandLine{parser.positionalArguments(),        valueIfSet(parser, modelOption),
                       valueIfSet(parser, precisionOption), parser.value(databaseOption),
                       valueIfSet(parser, demoOption),      parser.value(outOption),
                       valueIfSet(parser, memoryOption)};
}

// The stored settings with --model and --precision applied (and saved, except for the demo, which
// must not change the user's settings).
Result<AppSettings> settingsFor(const CommandLine &cl) {
    QSettings store;
    AppSettings settings = AppSettings::load(store);
    const bool demo = cl.demoPhotos.has_value();
    if (cl.model) {
        settings.modelDirectory = QFileInfo(*cl.model).absoluteFilePath();
        if (!demo)
            settings.save(store);
    }
    if (cl.precision) {
        const auto precision = parsePrecisionSetting(*cl.precision);
        if (!precision)
            return Error(Error::Code::InvalidArgument,
                         QStringLiteral("--precision takes auto, f32, bf16 or int8, not \"%1\"")
                             .arg(*cl.precision));
        settings.precision = *precision;
        if (!demo)
            settings.save(store);
    }
    return settings;
}

// The user's library, or for the demo a throw-away one in demoDir.
Result<std::unique_ptr<Library>> openLibrary(const CommandLine &cl, const AppSettings &settings,
                                             const QTemporaryDir &demoDir) {
    LibraryOptions options =
        libraryOptions(settings, cl.demoPhotos ? demoDir.filePath(QStringLiteral("library.sqlite"))
                                               : libraryLocation(cl.database, settings));
    if (cl.demoPhotos)
        options.batchSize = 1; // more progress reports to take the indexing screenshot from
    if (!cl.demoPhotos) {
        if (Status mounts = loadRootMounts(options); !mounts)
            return mounts.error();
    }
    return Library::open(options);
}

// The normal start: the window on screen with the command line's folders and photo, then the
// model loads in the background (or the setup dialog opens).
int runWindow(App &app, const CommandLine &cl, const QString &modelDirectory) {
    app.window().show();
    for (const QString &arg : cl.paths) {
        const QFileInfo info(arg);
        if (info.isDir())
            app.addFolder(info.absoluteFilePath());
        else if (info.isFile())
            app.window().runPhotoQuery(info.absoluteFilePath()); // runs once the model is loaded
        else
            qWarning("%s: no such file or folder", qPrintable(arg));
    }
    QTimer::singleShot(0, &app, [&app, modelDirectory] {
        startupMilestone("window usable (shown, event loop running)");
        app.loadModel(modelDirectory);
    });
    return QApplication::exec();
}

} // namespace

int main(int argc, char **argv) {
    QApplication qapp(argc, argv);
    QApplication::setApplicationName(QStringLiteral("TowerSearch"));
    QApplication::setOrganizationName(QStringLiteral("TowerSearch"));
    QApplication::setApplicationVersion(QStringLiteral(TOWERSEARCH_VERSION));
    QApplication::setDesktopFileName(QStringLiteral("io.github.towersearch.TowerSearch"));
    QApplication::setWindowIcon(QIcon(QStringLiteral(":/icons/towersearch.svg")));

    const CommandLine cl = parseCommandLine(qapp);
    const Result<AppSettings> settings = settingsFor(cl);
    if (!settings) {
        std::fprintf(stderr, "towersearch: %s\n", qPrintable(settings.error().message));
        return 2;
    }
    App::setModelThreads(settings->threads);

    QTemporaryDir demoDir;
    auto library = openLibrary(cl, *settings, demoDir);
    if (!library.ok()) {
        QMessageBox::critical(
            nullptr, QApplication::translate("main", "TowerSearch"),
            QApplication::translate("main", "The photo library cannot be opened:\n%1")
                .arg(library.error().message));
        return 1;
    }

    if (cl.demoPhotos || cl.memoryReport) {
        App app(std::move(library.value()), *settings);
        if (cl.demoPhotos)
            return runScreenshotDemo(app, QFileInfo(*cl.demoPhotos).absoluteFilePath(),
                                     settings->modelDirectory, cl.demoOut);
        QTimer::singleShot(0, &app, [&app, dir = settings->modelDirectory] { app.loadModel(dir); });
        return runMemoryReport(app, *cl.memoryReport);
    }
    // Another library database chosen in the settings: a fresh App over the library it opened.
    std::unique_ptr<Library> open = std::move(library.value());
    AppSettings current = *settings;
    CommandLine firstRun = cl; // the command line's photos and folders go to the first window
    for (;;) {
        App app(std::move(open), current);
        app.setDatabaseOverride(cl.database);
        const int code = runWindow(app, firstRun, current.modelDirectory);
        open = app.takeReopenedLibrary();
        if (!open)
            return code;
        current = app.settings();
        firstRun.paths.clear();
    }
}

#pragma once

// Runs towersearch-cli for the CLI tests (tests/app, tests/indexer, tests/hub): its exit code (-1
// when it crashed, did not start or timed out), its output, and for a successful `--json` run the
// parsed document (discarded on a parse error, so a test checks `j.is_discarded()`).

#include <nlohmann/json.hpp>

#include <QProcess>
#include <QProcessEnvironment>
#include <QSignalSpy>
#include <QString>
#include <QStringList>

namespace ts::test {

struct CliRun {
    int exitCode = -1;
    QString out, err;
    nlohmann::json j;
};

// How the test waits for the CLI. A test that serves the CLI from its own thread (the fake Hub of
// tests/hub) must keep its event loop turning; the others simply block.
enum class CliWait { Blocking, ServingEvents };

inline CliRun runCli(const QString &program, const QStringList &args, int timeoutMs,
                     const QProcessEnvironment &env = QProcessEnvironment::systemEnvironment(),
                     CliWait wait = CliWait::Blocking) {
    QProcess p;
    p.setProcessEnvironment(env);
    QSignalSpy done(&p, &QProcess::finished);
    p.start(program, args);
    CliRun r;
    const bool finished =
        wait == CliWait::ServingEvents
            ? p.waitForStarted(10000) && (done.count() > 0 || done.wait(timeoutMs))
            : p.waitForFinished(timeoutMs);
    if (!finished) {
        p.kill();
        p.waitForFinished();
        r.err = QStringLiteral("timed out");
        return r;
    }
    r.exitCode = p.exitStatus() == QProcess::NormalExit ? p.exitCode() : -1;
    r.out = QString::fromUtf8(p.readAllStandardOutput());
    r.err = QString::fromUtf8(p.readAllStandardError());
    if (args.contains(QStringLiteral("--json")) && r.exitCode == 0)
        r.j = nlohmann::json::parse(r.out.toStdString(), nullptr, false);
    return r;
}

} // namespace ts::test

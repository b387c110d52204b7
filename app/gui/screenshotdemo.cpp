#include "app/gui/screenshotdemo.h"

#include "app/gui/app.h"
#include "ui/describepanel.h"
#include "ui/fillmaskpanel.h"
#include "ui/librarymodel.h"
#include "ui/resultmodel.h"
#include "ui/searchcontroller.h"
#include "ui/searchfield.h"

#include <QApplication>
#include <QDir>
#include <QImage>
#include <QListView>
#include <QTimer>

#include <utility>

namespace ts {

namespace {

// The tour, one step per function; each step waits for what the window shows (indexing done,
// results, fill-mask candidates, Describe's words) and a moment for it to paint, then shoots.
class ScreenshotTour : public QObject {
public:
    ScreenshotTour(App &app, const QString &outDir)
        : m_app(app), m_w(app.window()), m_out(outDir) {}

    // After a moment on screen: the empty library, then the photos are added.
    void start(const QString &photos) {
        QTimer::singleShot(500, this, [this, photos] {
            save("01-empty-library.png");
            connect(&m_app.library(), &Library::progressChanged, this,
                    &ScreenshotTour::keepIndexingShot);
            connect(&m_app.library(), &Library::indexingFinished, this,
                    &ScreenshotTour::indexingFinished);
            m_app.addFolder(photos);
        });
    }

private:
    void save(const char *name) {
        QApplication::processEvents();
        const QString path = QDir(m_out).filePath(QLatin1String(name));
        const bool ok = m_w.grab().save(path);
        qInfo("%s %s", ok ? "saved" : "could not save", qPrintable(path));
    }

    // The indexing shot: the first progress report with some photos done and some to go, else the
    // first report at all (a tiny library may be done in one batch).
    void keepIndexingShot(const IndexProgress &p) {
        if (m_indexingShotFinal || p.total == 0)
            return;
        QApplication::processEvents();
        if (m_indexingShot.isNull() || (p.done > 0 && p.done < p.total))
            m_indexingShot = m_w.grab().toImage();
        m_indexingShotFinal = p.done > 0 && p.done < p.total;
    }

    void indexingFinished() {
        if (!m_indexingShot.isNull()) {
            const QString path = QDir(m_out).filePath(QStringLiteral("02-indexing.png"));
            qInfo("%s %s", m_indexingShot.save(path) ? "saved" : "could not save",
                  qPrintable(path));
            m_indexingShot = QImage();
        }
        QTimer::singleShot(300, this, [this] {
            connect(m_w.searchController(), &SearchController::searchFinished, this,
                    &ScreenshotTour::firstResults);
            m_w.runTextQuery(QStringLiteral("a cat sitting on a couch"));
        });
    }

    // The first search's results (once, however often indexing finished), then fill-mask on the
    // first photo.
    void firstResults() {
        if (std::exchange(m_resultsShown, true))
            return;
        m_w.resultView()->setCurrentIndex(m_w.resultModel()->index(0));
        QTimer::singleShot(1500, this, [this] {
            save("03-results.png");
            FillMaskPanel *panel = m_w.fillMaskPanel();
            connect(panel, &FillMaskPanel::filled, this, &ScreenshotTour::filled);
            panel->setCaption(QStringLiteral("a <mask> sitting on a <mask>"));
            panel->fill();
        });
    }

    // Fill-mask's candidates; then, without a query, the library by month.
    void filled() {
        QTimer::singleShot(300, this, [this] {
            save("04-fill-mask.png");
            m_w.searchField()->clear();
            QTimer::singleShot(1500, this, [this] {
                m_w.libraryView()->setCurrentIndex(m_w.libraryModel()->index(1));
                QTimer::singleShot(800, this, [this] {
                    save("05-library-by-month.png");
                    showFiltersAndDescribe();
                });
            });
        });
    }

    // Filters as chips beside the words, and Describe on the first result.
    void showFiltersAndDescribe() {
        connect(m_w.describePanel(), &DescribePanel::described, this, [this] {
            QTimer::singleShot(300, this, [this] {
                save("06-filters-and-describe.png");
                QApplication::exit(0);
            });
        });
        m_w.searchField()->setText(QStringLiteral("a cat after:2026-07 type:png -dog "));
        QTimer::singleShot(2500, this, [this] {
            m_w.resultView()->setCurrentIndex(m_w.resultModel()->index(0));
            m_w.describePanel()->describe();
        });
    }

    App &m_app;
    MainWindow &m_w;
    QString m_out;
    QImage m_indexingShot;
    bool m_indexingShotFinal = false;
    bool m_resultsShown = false;
};

} // namespace

int runScreenshotDemo(App &app, const QString &photos, const QString &modelDir,
                      const QString &outDir) {
    MainWindow &w = app.window();
    QDir().mkpath(outDir);
    w.resize(1280, 800);
    w.show();
    QTimer::singleShot(180000, qApp, [] {
        qWarning("screenshot demo: timed out");
        QApplication::exit(1);
    });
    if (const Status st = app.useModelNow(modelDir); !st.ok()) {
        qWarning("%s", qPrintable(st.error().message));
        return 1;
    }
    ScreenshotTour tour(app, outDir);
    tour.start(photos);
    return QApplication::exec();
}

} // namespace ts

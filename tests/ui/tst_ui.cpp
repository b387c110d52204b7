// One executable for ui/, several test classes (Qt Test runs one class per qExec). Runs under
// QT_QPA_PLATFORM=offscreen (set by ctest).
#include <QApplication>

int runModelTests(int argc, char **argv);
int runWidgetTests(int argc, char **argv);
int runMainWindowTests(int argc, char **argv);
int runDescribeUiTests(int argc, char **argv);
int runLibraryTests(int argc, char **argv);
#ifdef TOWERSEARCH_UI_TEST_LIBRARY
int runIndexingTests(int argc, char **argv);
int runDuplicatesDialogTests(int argc, char **argv);
int runLibrarySettingTests(int argc, char **argv);
#endif

int main(int argc, char **argv) {
    QApplication app(argc, argv);
    app.setOrganizationName(QStringLiteral("TowerSearchTests"));
    app.setApplicationName(QStringLiteral("tst_ui"));
    int failures = 0;
    failures += runModelTests(argc, argv);
    failures += runWidgetTests(argc, argv);
    failures += runMainWindowTests(argc, argv);
    failures += runDescribeUiTests(argc, argv);
    failures += runLibraryTests(argc, argv);
#ifdef TOWERSEARCH_UI_TEST_LIBRARY
    failures += runIndexingTests(argc, argv);
    failures += runDuplicatesDialogTests(argc, argv);
    failures += runLibrarySettingTests(argc, argv);
#endif
    return failures == 0 ? 0 : 1;
}

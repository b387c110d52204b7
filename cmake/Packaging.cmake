# Packaging: install rules for the desktop integration and a CPack Debian package.
#
#   cmake --build build && cpack --config build/CPackConfig.cmake -B build/package
#
# gives build/package/towersearch_<version>_<arch>.deb (installer/PACKAGING.md has the details).
# Included last from the top-level CMakeLists.txt, so every target exists by now. Files owned by
# other parts of the tree (the GUI binary, the .desktop file, the SVG icon) are installed only when
# they exist, so this file configures at any stage of the project.

include(GNUInstallDirs)

set(TOWERSEARCH_PACKAGE_MAINTAINER "TowerSearch maintainers <maintainers@towersearch.invalid>"
    CACHE STRING "Maintainer field of the Debian package")

# ---------------------------------------------------------------------------------------------
# The application id: the .desktop file's name (reverse DNS), which the icon, the AppStream
# metainfo and the desktop's "Open with" menu all key on.
set(_ts_resources "${PROJECT_SOURCE_DIR}/resources")
file(GLOB _ts_desktop_files CONFIGURE_DEPENDS "${_ts_resources}/*.desktop")
list(LENGTH _ts_desktop_files _ts_desktop_count)
if(_ts_desktop_count EQUAL 0)
    set(TOWERSEARCH_APP_ID "io.github.towersearch.TowerSearch")
    set(_ts_desktop_file "")
    message(STATUS "Packaging: no resources/*.desktop yet: the package has no menu entry")
else()
    list(GET _ts_desktop_files 0 _ts_desktop_file)
    if(_ts_desktop_count GREATER 1)
        message(WARNING
            "Packaging: several .desktop files in resources/, installing ${_ts_desktop_file}")
    endif()
    get_filename_component(TOWERSEARCH_APP_ID "${_ts_desktop_file}" NAME_WLE)
    set_property(DIRECTORY APPEND PROPERTY CMAKE_CONFIGURE_DEPENDS "${_ts_desktop_file}") # Icon=
endif()

# The icon is installed under the name the .desktop file asks for (Icon=...).
set(_ts_icon_name "${TOWERSEARCH_APP_ID}")
if(_ts_desktop_file)
    file(STRINGS "${_ts_desktop_file}" _ts_icon_line REGEX "^Icon=")
    if(_ts_icon_line)
        list(GET _ts_icon_line 0 _ts_icon_line)
        string(REGEX REPLACE "^Icon=[ \t]*" "" _ts_icon_name "${_ts_icon_line}")
        string(STRIP "${_ts_icon_name}" _ts_icon_name)
    endif()
endif()
set(_ts_icon_svg "")
foreach(_ts_candidate "${_ts_icon_name}.svg" "${TOWERSEARCH_APP_ID}.svg" "towersearch.svg")
    file(GLOB_RECURSE _ts_found CONFIGURE_DEPENDS "${_ts_resources}/${_ts_candidate}")
    if(_ts_found)
        list(GET _ts_found 0 _ts_icon_svg)
        break()
    endif()
endforeach()

set(_ts_metainfo "${_ts_resources}/${TOWERSEARCH_APP_ID}.metainfo.xml")
if(NOT EXISTS "${_ts_metainfo}")
    message(WARNING "Packaging: ${_ts_metainfo} is missing: the package has no AppStream metadata "
                    "(the metainfo file must be named after the .desktop file)")
    set(_ts_metainfo "")
endif()

# The menu entry, icon and AppStream data describe the desktop app: without it (configured with
# -DTOWERSEARCH_BUILD_GUI=OFF) the package is the command-line tool only.
if(NOT TARGET towersearch)
    message(STATUS "Packaging: no towersearch (GUI) target: packaging the command-line tool only")
    set(_ts_desktop_file "")
    set(_ts_metainfo "")
    set(_ts_icon_svg "")
endif()

# What the package must contain; tests/installer reads this list back after `apt-get install`.
set(_ts_manifest "")
macro(_ts_expect kind path)
    string(APPEND _ts_manifest "${kind} ${path}\n")
endmacro()
_ts_expect(appid "${TOWERSEARCH_APP_ID}")

# ---------------------------------------------------------------------------------------------
# Binaries. towersearch-cli has its install rule in app/; the GUI is installed here when it exists.
if(TARGET towersearch)
    install(TARGETS towersearch RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
    _ts_expect(binary "${CMAKE_INSTALL_BINDIR}/towersearch")
endif()
_ts_expect(binary "${CMAKE_INSTALL_BINDIR}/towersearch-cli")
# qt_standard_project_setup() gives installed binaries an rpath of $ORIGIN:$ORIGIN/../lib, for
# Qt builds outside the system; ours link only system libraries, and Debian discourages rpaths.
# The OpenMP OpenBLAS rpath (core/model) is a linker option CMake does not manage, so installing
# (and stripping) keeps it whatever INSTALL_RPATH says; the test checks it on the installed binaries.
foreach(_ts_target towersearch towersearch-cli)
    if(TARGET ${_ts_target})
        set_target_properties(${_ts_target} PROPERTIES INSTALL_RPATH "")
    endif()
endforeach()
set(_ts_blas_dir "/usr/lib/${CMAKE_LIBRARY_ARCHITECTURE}/openblas-openmp")
if(EXISTS "${_ts_blas_dir}/libblas.so.3")
    _ts_expect(rpath "${_ts_blas_dir}")
endif()

# ---------------------------------------------------------------------------------------------
# Desktop integration: menu entry, AppStream metadata, icons.
if(_ts_desktop_file)
    install(FILES "${_ts_desktop_file}" DESTINATION ${CMAKE_INSTALL_DATADIR}/applications)
    _ts_expect(desktop "${CMAKE_INSTALL_DATADIR}/applications/${TOWERSEARCH_APP_ID}.desktop")
endif()
if(_ts_metainfo)
    install(FILES "${_ts_metainfo}" DESTINATION ${CMAKE_INSTALL_DATADIR}/metainfo)
    _ts_expect(metainfo "${CMAKE_INSTALL_DATADIR}/metainfo/${TOWERSEARCH_APP_ID}.metainfo.xml")
endif()

set(_ts_icon_dir "${CMAKE_INSTALL_DATADIR}/icons/hicolor")
if(_ts_icon_svg)
    install(FILES "${_ts_icon_svg}" DESTINATION ${_ts_icon_dir}/scalable/apps
            RENAME "${_ts_icon_name}.svg")
    _ts_expect(file "${_ts_icon_dir}/scalable/apps/${_ts_icon_name}.svg")

    # PNG sizes for menus and docks that do not draw SVG, rendered at build time (librsvg2-bin).
    # Only rsvg-convert: the `convert` found on a PATH may be a stand-in rather than ImageMagick.
    find_program(TOWERSEARCH_RSVG_CONVERT rsvg-convert)
    if(TOWERSEARCH_RSVG_CONVERT)
        set(_ts_pngs "")
        foreach(_ts_size 16 22 24 32 48 64 128 256 512)
            set(_ts_png_dir "${PROJECT_BINARY_DIR}/icons/${_ts_size}x${_ts_size}")
            set(_ts_png "${_ts_png_dir}/${_ts_icon_name}.png")
            add_custom_command(OUTPUT "${_ts_png}"
                COMMAND ${CMAKE_COMMAND} -E make_directory "${_ts_png_dir}"
                COMMAND "${TOWERSEARCH_RSVG_CONVERT}" --width ${_ts_size} --height ${_ts_size}
                        --keep-aspect-ratio --format png --output "${_ts_png}" "${_ts_icon_svg}"
                DEPENDS "${_ts_icon_svg}"
                COMMENT "Rendering ${_ts_size}x${_ts_size} application icon"
                VERBATIM)
            list(APPEND _ts_pngs "${_ts_png}")
            install(FILES "${_ts_png}" DESTINATION ${_ts_icon_dir}/${_ts_size}x${_ts_size}/apps)
            _ts_expect(file "${_ts_icon_dir}/${_ts_size}x${_ts_size}/apps/${_ts_icon_name}.png")
        endforeach()
        add_custom_target(towersearch_icons ALL DEPENDS ${_ts_pngs})
    else()
        message(STATUS
            "Packaging: rsvg-convert (librsvg2-bin) not found: installing the SVG icon only")
    endif()
elseif(_ts_desktop_file)
    message(WARNING "Packaging: no ${_ts_icon_name}.svg under resources/ for the .desktop file's Icon=")
endif()

# ---------------------------------------------------------------------------------------------
# Documentation.
set(_ts_docdir "${CMAKE_INSTALL_DATADIR}/doc/towersearch")
if(EXISTS "${PROJECT_SOURCE_DIR}/README.md")
    install(FILES "${PROJECT_SOURCE_DIR}/README.md" DESTINATION ${_ts_docdir})
    _ts_expect(file "${_ts_docdir}/README.md")
endif()
install(FILES "${PROJECT_SOURCE_DIR}/installer/copyright" DESTINATION ${_ts_docdir})
_ts_expect(file "${_ts_docdir}/copyright")
# Debian wants a changelog in every package; ours has one entry, for this version. Its date is
# SOURCE_DATE_EPOCH when set (reproducible builds), else the time of configuring.
string(TIMESTAMP _ts_changelog_date "%a, %d %b %Y %H:%M:%S +0000" UTC)
file(WRITE "${PROJECT_BINARY_DIR}/packaging/changelog"
"towersearch (${PROJECT_VERSION}) unstable; urgency=medium

  * TowerSearch ${PROJECT_VERSION}.

 -- ${TOWERSEARCH_PACKAGE_MAINTAINER}  ${_ts_changelog_date}
")
file(ARCHIVE_CREATE OUTPUT "${PROJECT_BINARY_DIR}/packaging/changelog.gz"
     PATHS "${PROJECT_BINARY_DIR}/packaging/changelog"
     FORMAT raw COMPRESSION GZip COMPRESSION_LEVEL 9)
install(FILES "${PROJECT_BINARY_DIR}/packaging/changelog.gz" DESTINATION ${_ts_docdir})
_ts_expect(file "${_ts_docdir}/changelog.gz")

if(EXISTS "${_ts_blas_dir}/libblas.so.3")
    # lintian flags any rpath; ours is deliberate.
    install(FILES "${PROJECT_SOURCE_DIR}/installer/lintian-overrides"
            DESTINATION ${CMAKE_INSTALL_DATADIR}/lintian/overrides RENAME towersearch)
    _ts_expect(file "${CMAKE_INSTALL_DATADIR}/lintian/overrides/towersearch")
endif()

file(WRITE "${PROJECT_BINARY_DIR}/packaging/expected-contents.txt" "${_ts_manifest}")

# ---------------------------------------------------------------------------------------------
# CPack: one Debian package, `towersearch`.
set(CPACK_GENERATOR "DEB")
set(CPACK_PACKAGE_NAME "towersearch")
set(CPACK_PACKAGE_VENDOR "TowerSearch")
set(CPACK_PACKAGE_VERSION "${PROJECT_VERSION}")
set(CPACK_PACKAGE_CONTACT "${TOWERSEARCH_PACKAGE_MAINTAINER}")
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY "find photos by what is in them")
# No double quotes or semicolons in it (CPack writes it into CPackConfig.cmake unescaped), and
# lines under 80 columns (Debian's limit for the extended description).
set(CPACK_PACKAGE_DESCRIPTION
    "TowerSearch indexes the photos in your folders with the BridgeTower
vision-language model and finds them again from a few words that describe
them, or from a similar photo, on this computer.

The package has the desktop application (towersearch) and a command-line
tool (towersearch-cli) for scripts and headless machines. The model weights
are not part of the package.")
set(CPACK_PACKAGING_INSTALL_PREFIX "/usr")
set(CPACK_STRIP_FILES ON) # symbols only: strip keeps the dynamic section and so the rpath

set(CPACK_DEBIAN_PACKAGE_NAME "towersearch")
set(CPACK_DEBIAN_FILE_NAME "DEB-DEFAULT") # towersearch_<version>_<arch>.deb, arch from dpkg
execute_process(COMMAND dpkg --print-architecture OUTPUT_VARIABLE _ts_deb_arch
                OUTPUT_STRIP_TRAILING_WHITESPACE ERROR_QUIET)
if(NOT _ts_deb_arch)
    set(_ts_deb_arch "amd64")
endif()
set(CPACK_PACKAGE_FILE_NAME "towersearch_${PROJECT_VERSION}_${_ts_deb_arch}")
set(CPACK_DEBIAN_PACKAGE_SECTION "graphics")
set(CPACK_DEBIAN_PACKAGE_PRIORITY "optional")
set(CPACK_DEBIAN_PACKAGE_MAINTAINER "${TOWERSEARCH_PACKAGE_MAINTAINER}")
set(CPACK_DEBIAN_COMPRESSION_TYPE "xz")
set(CPACK_DEBIAN_PACKAGE_CONTROL_STRICT_PERMISSION ON)
# Library dependencies are computed by dpkg-shlibdeps (dpkg-dev) from the binaries' NEEDED
# entries: Qt 6, LibTorch, libheif, SQLite... (FAISS is linked statically). Listed here is only
# what is loaded at run time and invisible to it:
#  - libopenblas0-openmp: LibTorch's libblas.so.3, taken from the openblas-openmp directory
#    through the binaries' rpath (core/model/CMakeLists.txt);
#  - qt6-image-formats-plugins: Qt's WebP and TIFF readers, loaded as plugins;
#  - qt6-qpa-plugins: the GUI's xcb/wayland platform plugins;
#  - libqt6svg6: the SVG icon engine plugin, which draws the GUI's SVG icons (resources/*.qrc).
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
set(_ts_runtime_depends "libopenblas0-openmp" "qt6-image-formats-plugins")
if(TARGET towersearch)
    list(APPEND _ts_runtime_depends "qt6-qpa-plugins" "libqt6svg6")
endif()
list(JOIN _ts_runtime_depends ", " CPACK_DEBIAN_PACKAGE_DEPENDS)

include(CPack)

# The Debian package (scripts/package; docs/deploy.md "Debian package"):
# the binary, the systemd unit, a default config in /etc/hearth, the web
# assets, the README and the maintainer scripts of deploy/debian (the
# `hearth` system user; data kept on remove, deleted on purge). Built with
# CPack's DEB generator from any build tree (`cpack -G DEB`).

include(GNUInstallDirs)
install(TARGETS hearth RUNTIME DESTINATION bin)
install(FILES ${CMAKE_SOURCE_DIR}/deploy/debian/hearth.service DESTINATION lib/systemd/system)
install(FILES ${CMAKE_SOURCE_DIR}/deploy/debian/hearth.json DESTINATION /etc/hearth)
install(DIRECTORY ${CMAKE_SOURCE_DIR}/web/ DESTINATION share/hearth/web)
install(FILES ${CMAKE_SOURCE_DIR}/README.md ${CMAKE_SOURCE_DIR}/deploy/debian/copyright
        DESTINATION share/doc/hearth)
# Debian wants a compressed changelog in every package's doc directory.
set(HEARTH_DEB_CHANGELOG ${CMAKE_BINARY_DIR}/debian/changelog.Debian)
string(TIMESTAMP HEARTH_DEB_DATE "%a, %d %b %Y %H:%M:%S +0000" UTC)
file(WRITE ${HEARTH_DEB_CHANGELOG}
     "hearth (${PROJECT_VERSION}-1) unstable; urgency=medium\n\n"
     "  * Built from the hearth repository (see the README).\n\n"
     " -- hearth authors <hearth-maintainers@example.org>  ${HEARTH_DEB_DATE}\n")
add_custom_command(
  OUTPUT ${HEARTH_DEB_CHANGELOG}.gz
  COMMAND gzip -9 -n -f -k ${HEARTH_DEB_CHANGELOG}
  DEPENDS ${HEARTH_DEB_CHANGELOG})
add_custom_target(hearth_deb_changelog ALL DEPENDS ${HEARTH_DEB_CHANGELOG}.gz)
install(FILES ${HEARTH_DEB_CHANGELOG}.gz DESTINATION share/doc/hearth)

set(CPACK_GENERATOR DEB)
set(CPACK_PACKAGE_NAME hearth)
set(CPACK_PACKAGE_VERSION ${PROJECT_VERSION})
set(CPACK_PACKAGING_INSTALL_PREFIX /usr)
set(CPACK_STRIP_FILES ON)
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_PACKAGE_RELEASE 1)
set(CPACK_DEBIAN_PACKAGE_MAINTAINER "hearth authors <hearth-maintainers@example.org>")
set(CPACK_DEBIAN_PACKAGE_SECTION net)
set(CPACK_DEBIAN_PACKAGE_PRIORITY optional)
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY
    "clustered backend for household apps: REST and live events over PostgreSQL")
set(CPACK_PACKAGE_DESCRIPTION
    "hearth serves shared shopping lists, tasks and calendars as a REST API\nwith Server-Sent Events, on one machine with an embedded PostgreSQL or\nas a cluster behind a load balancer.")
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
# The embedded PostgreSQL's server binaries (the service's default), and
# adduser for the maintainer scripts.
set(CPACK_DEBIAN_PACKAGE_DEPENDS "postgresql-15, adduser")
set(CPACK_DEBIAN_PACKAGE_CONTROL_EXTRA
    ${CMAKE_SOURCE_DIR}/deploy/debian/postinst ${CMAKE_SOURCE_DIR}/deploy/debian/prerm
    ${CMAKE_SOURCE_DIR}/deploy/debian/postrm ${CMAKE_SOURCE_DIR}/deploy/debian/conffiles)
set(CPACK_DEBIAN_PACKAGE_CONTROL_STRICT_PERMISSION ON)
include(CPack)

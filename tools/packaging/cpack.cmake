# The Debian package (CPack's DEB generator; docs/operations.md). Included from the top
# CMakeLists.txt. From a configured build tree:
#   cmake --build --preset release --target package     # or: tools/package.sh
# gives build/release/postern_<version>-1_<arch>.deb with
#   /usr/sbin/postern, /usr/share/man/man8/postern.8.gz (help2man, when installed),
#   /lib/systemd/system/postern-server.service and postern-client@.service,
#   /usr/share/doc/postern/{copyright,changelog.Debian.gz,operations.md,examples/*.toml},
# and maintainer scripts (tools/packaging/debian) that create the postern system user, the spool,
# the Maildir root and /etc/postern (0750 root:postern), never start a daemon, and remove all of
# it on purge.
set(POSTERN_PACKAGING_DIR ${CMAKE_CURRENT_LIST_DIR})
set(POSTERN_PACKAGE_BUILD_DIR ${CMAKE_BINARY_DIR}/packaging)

install(TARGETS postern RUNTIME DESTINATION sbin)
# Debian 12 keeps system units under /lib (merged /usr aside), where dh_installsystemd puts them.
install(FILES ${POSTERN_PACKAGING_DIR}/systemd/postern-server.service
              ${POSTERN_PACKAGING_DIR}/systemd/postern-client@.service
        DESTINATION /lib/systemd/system)
install(FILES ${POSTERN_PACKAGING_DIR}/examples/site.toml ${POSTERN_PACKAGING_DIR}/examples/client.toml
        DESTINATION share/doc/postern/examples)
install(FILES ${POSTERN_PACKAGING_DIR}/debian/copyright ${PROJECT_SOURCE_DIR}/docs/operations.md
        DESTINATION share/doc/postern)

# changelog.Debian.gz: gzip -n so the package is reproducible (no name or time in the header).
string(TIMESTAMP POSTERN_DEB_DATE "%a, %d %b %Y %H:%M:%S +0000" UTC)
set(POSTERN_DEB_VERSION ${PROJECT_VERSION}-1)
configure_file(${POSTERN_PACKAGING_DIR}/debian/changelog ${POSTERN_PACKAGE_BUILD_DIR}/changelog.Debian @ONLY)
find_program(GZIP_PROGRAM gzip REQUIRED)
add_custom_command(OUTPUT ${POSTERN_PACKAGE_BUILD_DIR}/changelog.Debian.gz
  COMMAND ${GZIP_PROGRAM} -9nkf ${POSTERN_PACKAGE_BUILD_DIR}/changelog.Debian
  DEPENDS ${POSTERN_PACKAGE_BUILD_DIR}/changelog.Debian)
set(POSTERN_PACKAGE_FILES ${POSTERN_PACKAGE_BUILD_DIR}/changelog.Debian.gz)
install(FILES ${POSTERN_PACKAGE_BUILD_DIR}/changelog.Debian.gz DESTINATION share/doc/postern)

# The man page, derived from `postern --help` (Debian: help2man). Optional: without help2man
# the package simply has none.
find_program(HELP2MAN_PROGRAM help2man)
if(HELP2MAN_PROGRAM)
  add_custom_command(OUTPUT ${POSTERN_PACKAGE_BUILD_DIR}/postern.8.gz
    COMMAND ${HELP2MAN_PROGRAM} --no-info --section=8 --source=postern
            --name="VPN tunnel and SMTP submission daemon"
            --output=${POSTERN_PACKAGE_BUILD_DIR}/postern.8 $<TARGET_FILE:postern>
    COMMAND ${GZIP_PROGRAM} -9nf ${POSTERN_PACKAGE_BUILD_DIR}/postern.8
    DEPENDS postern)
  list(APPEND POSTERN_PACKAGE_FILES ${POSTERN_PACKAGE_BUILD_DIR}/postern.8.gz)
  install(FILES ${POSTERN_PACKAGE_BUILD_DIR}/postern.8.gz DESTINATION share/man/man8)
endif()
# Built with `all`, so `cpack` from a built tree finds them.
add_custom_target(postern_package_files ALL DEPENDS ${POSTERN_PACKAGE_FILES})

set(CPACK_GENERATOR DEB)
set(CPACK_PACKAGE_NAME postern)
set(CPACK_PACKAGE_VERSION ${PROJECT_VERSION})
set(CPACK_PACKAGE_CONTACT "postern maintainers <postern@example.org>")
set(CPACK_PACKAGING_INSTALL_PREFIX /usr)
set(CPACK_STRIP_FILES TRUE)
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_PACKAGE_RELEASE 1)
set(CPACK_DEBIAN_PACKAGE_SECTION net)
set(CPACK_DEBIAN_PACKAGE_PRIORITY optional)
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)  # dpkg-shlibdeps (dpkg-dev) fills in the libraries
set(CPACK_DEBIAN_PACKAGE_DEPENDS "adduser")
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY "VPN tunnel and SMTP submission daemon for a site and its laptops")
# CPack writes the summary as the first line and indents these lines itself; an empty line
# becomes the " ." paragraph separator.
set(CPACK_DEBIAN_PACKAGE_DESCRIPTION "postern client on a laptop opens an authenticated, encrypted tunnel (TLS 1.3
control channel, GRE-in-UDP data channel with AEAD) to postern server at the
site, which also runs the site's SMTP submission listener (STARTTLS on 25/587,
implicit TLS on 465) and writes every accepted message durably.

The package ships systemd units (postern-server.service and the
postern-client@.service template) and creates the postern system user; it
starts nothing until a configuration is written to /etc/postern.")
set(CPACK_DEBIAN_PACKAGE_CONTROL_EXTRA
    ${POSTERN_PACKAGING_DIR}/debian/postinst ${POSTERN_PACKAGING_DIR}/debian/prerm
    ${POSTERN_PACKAGING_DIR}/debian/postrm)
set(CPACK_DEBIAN_PACKAGE_CONTROL_STRICT_PERMISSION TRUE)
# Only what install() names above goes in: no build tree, no tests.
set(CPACK_INSTALL_CMAKE_PROJECTS "${CMAKE_BINARY_DIR};postern;ALL;/")
include(CPack)

# Turns a file into a C header holding its bytes as a NUL-terminated string.
file(READ ${IN} hex HEX)
string(REGEX REPLACE "([0-9a-f][0-9a-f])" "0x\\1," body "${hex}")
file(WRITE ${OUT} "/* Generated from policy/default.json by cmake/embed.cmake: do not edit. */\n"
  "static const char lg_default_policy_json[] = {${body} 0x00};\n")

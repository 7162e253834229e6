package resttest

import (
	"fmt"
	"strings"
)

// The configs of the real servers, as connectors/rest/README.md shows
// them: the tests open the connector with these, so the README's
// examples are the tested ones. Each is a system's section, unindented;
// Indent places it in a file.

// JSONServerSystem is the section of a rest system over json-server at
// url (the token in $JSON_SERVER_TOKEN), with pages of pageSize.
func JSONServerSystem(url string, pageSize int) string {
	return fmt.Sprintf(`type: rest
base_url: %s
auth: {type: bearer, token_env: JSON_SERVER_TOKEN}
objects:
  contacts:
    path: /contacts
    updated: updatedAt              # stamped by the middleware, ISO 8601 in UTC
    query:
      _sort: updatedAt,id
      _order: asc,asc
      updatedAt_gte: "{since}"
      _page: "{page}"
      _limit: "{limit}"
    paging: link                    # json-server sends Link: <…>; rel="next"
    page_size: %d
    key: tandemId                   # where Tandem keeps its key in the records it creates
    key_query: {tandemId: "{key}"}
    create: search                  # json-server has no unique index: search first
    fetch: {param: id}              # ?id=1&id=2…
`, url, pageSize)
}

// PocketBaseSystem is the section of a rest system over PocketBase at url
// (the superuser in $PB_EMAIL and $PB_PASSWORD), with pages of pageSize.
func PocketBaseSystem(url string, pageSize int) string {
	return fmt.Sprintf(`type: rest
base_url: %s
auth:
  type: login
  url: /api/collections/_superusers/auth-with-password
  username_field: identity
  username_env: PB_EMAIL
  password_env: PB_PASSWORD
  renew_on: [401, 403]              # PocketBase answers a stale token with 403
objects:
  contacts:
    path: /api/collections/contacts/records
    records: items
    updated: updated
    updated_format: "2006-01-02 15:04:05.000Z"
    query:
      sort: updated,id
      perPage: "{limit}"
      skipTotal: "true"
      filter: "updated >= '{since}'"
    paging: keyset
    keyset:
      filter: "updated > '{last_updated}' || (updated = '{last_updated}' && id > '{last_id}')"
    page_size: %d
    key: tandem_id
    key_query: {filter: "tandem_id = '{key}'"}
    create: unique                  # a unique index on tandem_id
    unique:
      email: {filter: "email = '{value}'"}
    fetch: {param: filter, each: "id = '{id}'", join: " || "}
`, url, pageSize)
}

// Indent indents every line of a section by n spaces.
func Indent(section string, n int) string {
	pad := strings.Repeat(" ", n)
	lines := strings.Split(strings.TrimRight(section, "\n"), "\n")
	for i, l := range lines {
		if l != "" {
			lines[i] = pad + l
		}
	}
	return strings.Join(lines, "\n") + "\n"
}

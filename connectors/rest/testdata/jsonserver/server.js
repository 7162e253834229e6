// json-server 0.17.4 as the tests of Tandem's rest connector run it:
//   node server.js PORT DB_FILE   (token in JSON_SERVER_TOKEN)
// A few lines of middleware make it a small CRM API: a bearer token is
// required, every write is stamped with updatedAt (ISO 8601, UTC, ms), and
// an email that is not one is refused (400). X-Stamp sets the stamp
// instead of the clock: the tests' way to give records one time (ties).
const jsonServer = require('json-server')
const [port, db] = process.argv.slice(2)
const server = jsonServer.create()
server.use(jsonServer.defaults({ logger: false }))
server.use(jsonServer.bodyParser)
server.use((req, res, next) => {
  if (req.get('Authorization') !== 'Bearer ' + process.env.JSON_SERVER_TOKEN) {
    return res.status(401).json({ message: 'missing or wrong bearer token' })
  }
  if (['POST', 'PUT', 'PATCH'].includes(req.method)) {
    const email = req.body.email
    if (email !== undefined && email !== null && (typeof email !== 'string' || !email.includes('@'))) {
      return res.status(400).json({ message: 'email: not an email address' })
    }
    req.body.updatedAt = req.get('X-Stamp') || new Date().toISOString()
  }
  next()
})
server.use(jsonServer.router(db))
server.listen(Number(port), '127.0.0.1')

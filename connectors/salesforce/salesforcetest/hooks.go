package salesforcetest

import "time"

// OnChange sets fn to be called after every committed create, update,
// delete or undelete of a record, whichever path made it: sObject
// Collections (create, update, upsert, delete) or the test API (Create,
// Update, Delete, Undelete, LoadSeed). fn gets the object's API name
// ("Contact"), the record's 18-character id and the time of the write,
// which is the record's new SystemModstamp.
//
// fn is called synchronously, in the goroutine that made the write, once
// the emulator's lock is released, so it may call the emulator: a test API
// call returns, and a request's handler ends, only after fn has been
// called for each of its changes, in the order they were made. Writes that
// allOrNone rolled back, and writes that failed, call nothing. nil
// removes the hook.
func (e *Emulator) OnChange(fn func(object, id string, at time.Time)) {
	if fn == nil {
		e.onChange.Store(nil)
		return
	}
	e.onChange.Store(&fn)
}

// unlockAndNotify ends a write: it releases the emulator's lock, which the
// write took before it made x, then calls the OnChange hook with what x
// committed. Every change of a tx goes through tx.put, so its undo log,
// emptied by a rollback, lists exactly the records written, in order.
// A write runs
//
//	e.mu.Lock()
//	x := &tx{now: e.now()}
//	defer e.unlockAndNotify(x)
func (e *Emulator) unlockAndNotify(x *tx) {
	e.mu.Unlock()
	fn := e.onChange.Load()
	if fn == nil {
		return
	}
	for _, u := range x.undo {
		(*fn)(u.t.obj.Name, u.id, x.now)
	}
}

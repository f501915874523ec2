// Runs STEER-group calls (prompt, params, presets, status, console) on one worker thread,
// so a slow or dead daemon (each call may wait up to the control timeout) never stalls the
// game's frame. Results come back on the thread that calls Pump (Unity's main thread).
// Plain C# with no UnityEngine: tested under mono.
using System;
using System.Collections.Generic;
using System.Threading;

namespace Reverie
{
    public sealed class ReverieSteering : IDisposable
    {
        readonly ReverieClient client;
        readonly Queue<Action> work = new Queue<Action>();
        readonly Queue<Action> done = new Queue<Action>();
        readonly Thread worker;
        bool stopping;

        public ReverieSteering(ReverieClient client)
        {
            if (client == null) throw new ArgumentNullException("client");
            this.client = client;
            worker = new Thread(Run) { IsBackground = true, Name = "Reverie steering" };
            worker.Start();
        }

        /// <summary>Calls waiting or running on the worker.</summary>
        public int Pending { get { lock (work) return work.Count + (busy ? 1 : 0); } }

        bool busy;

        /// <summary>Queue call(client) on the worker; then(result, lastError) runs in Pump.
        /// lastError is read on the worker right after the call (it is per thread).</summary>
        public void Post(Func<ReverieClient, ReverieResult> call, Action<ReverieResult, string> then)
        {
            if (call == null) throw new ArgumentNullException("call");
            lock (work)
            {
                if (stopping) return;
                work.Enqueue(() =>
                {
                    ReverieResult result;
                    string error;
                    try
                    {
                        result = call(client);
                        error = result == ReverieResult.Ok ? "" : ReverieClient.LastError;
                    }
                    catch (Exception e) // a bug in a callback must not kill the worker
                    {
                        result = ReverieResult.InvalidArgument;
                        error = e.GetType().Name + ": " + e.Message;
                    }
                    if (then != null)
                        lock (done) done.Enqueue(() => then(result, error));
                });
                Monitor.Pulse(work);
            }
        }

        /// <summary>Run the completions that arrived; returns how many ran.</summary>
        public int Pump()
        {
            int ran = 0;
            while (true)
            {
                Action next;
                lock (done)
                {
                    if (done.Count == 0) return ran;
                    next = done.Dequeue();
                }
                next();
                ran++;
            }
        }

        /// <summary>Stops the worker after the call it is running; queued calls are dropped.
        /// Dispose the steering before the client.</summary>
        public void Dispose()
        {
            lock (work)
            {
                stopping = true;
                work.Clear();
                Monitor.Pulse(work);
            }
            worker.Join();
        }

        void Run()
        {
            while (true)
            {
                Action next;
                lock (work)
                {
                    while (work.Count == 0 && !stopping) Monitor.Wait(work);
                    if (stopping) return;
                    next = work.Dequeue();
                    busy = true;
                }
                next();
                lock (work) busy = false;
            }
        }
    }
}

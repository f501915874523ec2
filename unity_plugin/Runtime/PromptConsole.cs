// The in-game prompt console (IMGUI, so no extra packages): toggle with the backquote key,
// type a prompt or a command, see the reply. Every line goes through libreverie's
// reverie_console_exec: the daemon runs the line in the console language of `reverie console` (plain text
// sets the prompt; /preset [NAME], /steps N, /strength X, /seed N, /transition N, /reset,
// /status, /help, /quit). Calls run on the steering worker thread, so a dead daemon never
// freezes the game. Compiled only inside Unity.
using System.Collections.Generic;
using System.Globalization;
using UnityEngine;

namespace Reverie
{
    [AddComponentMenu("Reverie/Prompt Console")]
    public sealed class PromptConsole : MonoBehaviour
    {
        [Tooltip("Opens and closes the console.")]
        public KeyCode toggleKey = KeyCode.BackQuote;
        public bool startOpen;
        [Tooltip("Whose connection to use. Empty: the first ReverieCamera in the scene; with none, a console-only client.")]
        public ReverieCamera target;
        [Tooltip("Control endpoint for a console-only client. Empty: $REVERIE_CONTROL or the default path.")]
        public string controlEndpoint = "";
        [Range(4, 40)] public int logLines = 12;

        const string InputName = "ReverieConsoleInput";
        const int MaxHistory = 100;

        readonly List<string> history = new List<string>();
        readonly List<string> log = new List<string>();
        ReverieClient ownClient;        // only without a ReverieCamera: steering needs no session
        ReverieSteering ownSteering;
        bool open, focusPending, statusPending, presetsPending, ownFailed;
        string input = "";
        int historyIndex;
        string[] presetNames = new string[0];
        string statsLine = "stats: waiting for the daemon";
        float nextStatusAt, nextPresetsAt;
        Vector2 scroll;

        public bool IsOpen { get { return open; } }

        void OnEnable()
        {
            open = startOpen;
            focusPending = open;
            if (target == null) target = FindFirstObjectByType<ReverieCamera>();
        }

        void OnDisable()
        {
            if (ownSteering != null) ownSteering.Dispose();
            if (ownClient != null) ownClient.Dispose();
            ownSteering = null;
            ownClient = null;
        }

        /// <summary>The steering worker to use: the camera's, or a console-only client's.</summary>
        ReverieSteering Steering()
        {
            if (target != null) return target.Steering; // null until the camera is enabled
            if (ownSteering == null && !ownFailed)
            {
                var options = new ReverieClientOptions { Control = controlEndpoint, ClientName = "unity-console", Lazy = true };
                if (ReverieClient.Connect(options, out ownClient) != ReverieResult.Ok)
                {
                    Append("error: " + ReverieClient.LastError);
                    ownFailed = true; // said once; the settings need fixing, not retrying
                    return null;
                }
                ownSteering = new ReverieSteering(ownClient);
            }
            return ownSteering;
        }

        void Update()
        {
            if (ownSteering != null) ownSteering.Pump(); // a camera's steering is pumped by the camera
            if (!open) return;
            var steering = Steering();
            if (steering == null) return;
            if (!statusPending && Time.unscaledTime >= nextStatusAt) RefreshStatus(steering);
            if (!presetsPending && Time.unscaledTime >= nextPresetsAt) RefreshPresets(steering);
        }

        /// <summary>Runs one console line and logs the reply.</summary>
        public void Run(string line)
        {
            line = (line ?? "").Trim();
            if (line.Length == 0) return;
            if (history.Count == 0 || history[history.Count - 1] != line) history.Add(line);
            if (history.Count > MaxHistory) history.RemoveAt(0);
            historyIndex = history.Count;
            Append("> " + line);
            var steering = Steering();
            if (steering == null)
            {
                Append("error: not connected yet (is the ReverieCamera enabled?)");
                return;
            }
            string reply = null; // written on the worker, read in the completion (ordered by its queue)
            steering.Post(c => c.ConsoleExec(line, out reply), (result, error) =>
            {
                if (!string.IsNullOrEmpty(reply)) foreach (var l in reply.Split('\n')) Append(l);
                else if (result != ReverieResult.Ok && result != ReverieResult.Quit) Append("error: " + error);
                if (result == ReverieResult.Quit) open = false;
                nextStatusAt = 0f; // show the change at once
            });
        }

        void RefreshStatus(ReverieSteering steering)
        {
            statusPending = true;
            var box = new Status[1];
            steering.Post(c => c.GetStatus(out box[0]), (result, error) =>
            {
                statusPending = false;
                nextStatusAt = Time.unscaledTime + 0.5f;
                statsLine = result == ReverieResult.Ok ? Describe(ref box[0]) : "stats: " + error;
            });
        }

        void RefreshPresets(ReverieSteering steering)
        {
            presetsPending = true;
            var box = new Preset[1][];
            steering.Post(c => c.ListPresets(out box[0]), (result, error) =>
            {
                presetsPending = false;
                nextPresetsAt = Time.unscaledTime + 5f;
                if (result != ReverieResult.Ok) return;
                var names = new string[box[0].Length];
                for (int i = 0; i < names.Length; i++) names[i] = box[0][i].Name;
                presetNames = names;
            });
        }

        string Describe(ref Status s)
        {
            var inv = CultureInfo.InvariantCulture;
            string Ms(double v) { return v < 0 ? "-" : v.ToString("F1", inv); }
            string line = string.Format(inv, "{0:F1} fps   latency p50 {1} / p95 {2} ms   dropped {3}   failed {4}   steps {5}   strength {6:F2}   prompt \"{7}\"",
                s.Fps, Ms(s.LatencyP50Ms), Ms(s.LatencyP95Ms), s.Dropped, s.Failed, s.Steps, s.Strength, s.Prompt);
            if (target != null)
                line += string.Format(inv, "   sent {0}, skipped {1}", target.FramesSubmitted, target.FramesSkipped);
            return line;
        }

        void Append(string line)
        {
            log.Add(line);
            while (log.Count > 200) log.RemoveAt(0);
            scroll.y = float.MaxValue; // follow the newest line
        }

        void OnGUI()
        {
            var e = Event.current;
            if (e.type == EventType.KeyDown && e.keyCode == toggleKey)
            {
                open = !open;
                focusPending = open;
                e.Use();
                return;
            }
            if (!open) return;

            float lineHeight = GUI.skin.label.lineHeight + 4f;
            var area = new Rect(8f, 8f, Screen.width - 16f, lineHeight * (logLines + 4) + 24f);
            GUILayout.BeginArea(area, GUI.skin.box);
            GUILayout.Label(statsLine);
            scroll = GUILayout.BeginScrollView(scroll, GUILayout.Height(lineHeight * logLines));
            foreach (var line in log) GUILayout.Label(line);
            GUILayout.EndScrollView();
            if (presetNames.Length > 0)
            {
                GUILayout.BeginHorizontal();
                GUILayout.Label("presets", GUILayout.ExpandWidth(false));
                foreach (var name in presetNames)
                    if (GUILayout.Button(name, GUILayout.ExpandWidth(false))) Run("/preset " + name);
                GUILayout.EndHorizontal();
            }
            HandleInputKeys(e);
            GUI.SetNextControlName(InputName);
            input = GUILayout.TextField(input, 1000);
            if (toggleKey == KeyCode.BackQuote) input = input.Replace("`", ""); // the toggle key's own character
            GUILayout.EndArea();
            if (focusPending && e.type == EventType.Repaint)
            {
                GUI.FocusControl(InputName);
                focusPending = false;
            }
        }

        /// <summary>Enter runs the line; up and down walk the history.</summary>
        void HandleInputKeys(Event e)
        {
            if (e.type != EventType.KeyDown || GUI.GetNameOfFocusedControl() != InputName) return;
            if (e.keyCode == KeyCode.Return || e.keyCode == KeyCode.KeypadEnter)
            {
                Run(input);
                input = "";
                e.Use();
            }
            else if (e.keyCode == KeyCode.UpArrow && history.Count > 0)
            {
                historyIndex = Mathf.Max(0, historyIndex - 1);
                input = history[historyIndex];
                e.Use();
            }
            else if (e.keyCode == KeyCode.DownArrow)
            {
                historyIndex = Mathf.Min(history.Count, historyIndex + 1);
                input = historyIndex < history.Count ? history[historyIndex] : "";
                e.Use();
            }
        }
    }
}

// Inspector for ReverieCamera: the settings, and in play mode the stream's state (working
// size, frames sent and skipped, the newest output's latency, the current problem) with
// buttons to resend the style and to drop the stylizer's history. Compiled only inside Unity.
using UnityEditor;
using UnityEngine;

namespace Reverie.Editor
{
    [CustomEditor(typeof(ReverieCamera))]
    public sealed class ReverieCameraEditor : UnityEditor.Editor
    {
        public override bool RequiresConstantRepaint()
        {
            return Application.isPlaying; // live figures
        }

        public override void OnInspectorGUI()
        {
            DrawDefaultInspector();
            var rc = (ReverieCamera)target;
            EditorGUILayout.Space();
            if (!Application.isPlaying)
            {
                EditorGUILayout.HelpBox(
                    "Start the daemon (`reverie serve`), then enter play mode. Built-in pipeline: works as it is. " +
                    "URP: turn on Depth Texture and add the Reverie Urp Inputs renderer feature (motion vectors).",
                    MessageType.Info);
                return;
            }
            EditorGUILayout.LabelField("Stream", EditorStyles.boldLabel);
            using (new EditorGUI.DisabledScope(true))
            {
                EditorGUILayout.TextField("Pipeline", rc.UsingUrp ? "URP (CameraCaptureBridge)" : "Built-in (CommandBuffer)");
                EditorGUILayout.TextField("Working size", rc.WorkingWidth + " x " + rc.WorkingHeight);
                EditorGUILayout.TextField("Frames sent / skipped", rc.FramesSubmitted + " / " + rc.FramesSkipped);
                var output = rc.LatestOutput;
                EditorGUILayout.TextField("Newest output", output.FrameId == 0 ? "none yet"
                    : "frame " + output.FrameId + ", " + output.LatencyMs.ToString("F1") + " ms after submit");
            }
            if (!string.IsNullOrEmpty(rc.Problem)) EditorGUILayout.HelpBox(rc.Problem, MessageType.Warning);
            if (rc.StylizedTexture != null)
            {
                var rect = GUILayoutUtility.GetAspectRect((float)rc.StylizedTexture.width / rc.StylizedTexture.height);
                EditorGUI.DrawPreviewTexture(rect, rc.StylizedTexture);
            }
            using (new EditorGUILayout.HorizontalScope())
            {
                if (GUILayout.Button("Send style now")) rc.ApplyStyle();
                if (GUILayout.Button("Reset history")) rc.ResetHistory();
            }
        }
    }
}

// Sample: puts Reverie on the main camera at play time, with a prompt console, so an existing
// scene streams without editing it. Add this script to any GameObject (or drop ReverieCamera
// and PromptConsole on the camera yourself: that is all this does).
using Reverie;
using UnityEngine;

public sealed class ReverieSetup : MonoBehaviour
{
    [TextArea] public string prompt = "watercolor on paper, soft pigment bleeding";
    [Range(64, 720)] public int workingHeight = 256;

    void Awake()
    {
        var cam = Camera.main;
        if (cam == null)
        {
            Debug.LogError("ReverieSetup: no camera tagged MainCamera in the scene.", this);
            return;
        }
        var stream = cam.GetComponent<ReverieCamera>();
        if (stream == null)
        {
            stream = cam.gameObject.AddComponent<ReverieCamera>(); // connects (lazily) in its OnEnable
            stream.workingHeight = workingHeight;                  // read every frame
            stream.SetPrompt(prompt, 0);
        }
        if (FindFirstObjectByType<PromptConsole>() == null)
            gameObject.AddComponent<PromptConsole>().target = stream;
    }
}

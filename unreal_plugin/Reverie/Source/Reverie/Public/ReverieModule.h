// The Reverie runtime module: loads libreverie, connects to the daemon lazily (the game
// starts whether or not the daemon runs), registers the scene view extension once the
// engine is up, and owns the prompt console widget.
#pragma once

#include "CoreMinimal.h"
#include "Modules/ModuleInterface.h"
#include "UObject/WeakObjectPtr.h"

class FReverieSession;
class UGameViewportClient;
class FReverieViewExtension;
class SReverieConsole;
class SWidget;

DECLARE_LOG_CATEGORY_EXTERN(LogReverie, Log, All);

class FReverieModule : public IModuleInterface
{
public:
	static FReverieModule& Get();
	static bool IsAvailable();

	virtual void StartupModule() override;
	virtual void ShutdownModule() override;

	// Null when the library could not be loaded or the client could not be created; every
	// caller treats that as "Reverie is off".
	FReverieSession* GetSession() const { return Session.Get(); }

	// Show or hide the in-game prompt console (Reverie.Console).
	void ToggleConsole();

private:
	bool LoadNativeLibrary();
	void OnPostEngineInit();
	void CloseConsole();

	void* LibraryHandle = nullptr;
	TSharedPtr<FReverieSession, ESPMode::ThreadSafe> Session;
	TSharedPtr<FReverieViewExtension, ESPMode::ThreadSafe> ViewExtension;
	TSharedPtr<SReverieConsole> Console;
	TSharedPtr<SWidget> ConsoleInViewport;            // the wrapper handed to the game viewport
	TWeakObjectPtr<UGameViewportClient> ConsoleViewport; // ... and that viewport (PIE sessions end)
	FDelegateHandle PostEngineInitHandle;
};
